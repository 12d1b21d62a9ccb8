{
  "targets": [
    {
      "target_name": "fer_dnnl",
      "sources": ["engine.cc", "conv.cc", "matmul.cc", "batch_norm.cc", "reductions.cc", "activation.cc", "adam.cc", "peak.cc", "addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-ffp-contract=off", "-fno-math-errno"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
