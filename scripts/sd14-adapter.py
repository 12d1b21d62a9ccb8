#!/usr/bin/env python3
"""Stable Diffusion for fer-dag's `command` synthesizer: JSON-lines requests on stdin, answers on stdout.

The protocol is described in docs/synthesizers.md. In short, fer-dag writes one request a line:

    {"id": 7, "prompt": "...", "negative_prompt": "...", "seed": 123, "width": 512, "height": 512,
     "steps": 50, "out": "/tmp/fer-dag-synthesis-abc/7.png"}

and this program answers, one line each, once the PNG is written to `out`:

    {"id": 7, "ok": true}            or            {"id": 7, "ok": false, "error": "..."}

It exits when its stdin ends. Needs torch and diffusers (pip install torch diffusers transformers accelerate);
a CUDA GPU is used when there is one, in float16.

    python3 scripts/sd14-adapter.py --model CompVis/stable-diffusion-v1-4
"""

import argparse
import json
import os
import sys
import traceback


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def protocol_stream():
    """Keeps the real stdout for answers and sends everything else written there (library banners, warnings,
    prints from native code) to stderr, so no stray line can be taken for an answer or break one in two."""
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="CompVis/stable-diffusion-v1-4",
                        help="a Hugging Face model id or a local folder (default: %(default)s)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    return parser.parse_args()


def load_pipeline(model, device):
    import torch
    from diffusers import StableDiffusionPipeline

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    log(f"sd14-adapter: loading {model} on {device} ({dtype})")
    pipe = StableDiffusionPipeline.from_pretrained(model, torch_dtype=dtype)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, device, request):
    import torch

    generator = torch.Generator(device=device).manual_seed(int(request["seed"]))
    result = pipe(
        prompt=request["prompt"],
        negative_prompt=request.get("negative_prompt") or None,
        width=int(request["width"]),
        height=int(request["height"]),
        num_inference_steps=int(request["steps"]),
        generator=generator,
    )
    flagged = getattr(result, "nsfw_content_detected", None)
    if flagged and flagged[0]:
        # The safety checker blacks the image out; a black square is no face, so say why instead of sending it.
        raise RuntimeError("the safety checker flagged the image (it would come back black)")
    result.images[0].save(request["out"], format="PNG")


def main():
    args = parse_args()
    answers = protocol_stream()

    def answer(value):
        answers.write(json.dumps(value) + "\n")
        answers.flush()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    # A model that cannot load fails here: the exit code and this traceback on stderr reach fer-dag's error message.
    pipe = load_pipeline(args.model, device)
    log("sd14-adapter: ready")

    for line in iter(sys.stdin.readline, ""):
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            request_id = request["id"]
        except (ValueError, KeyError, TypeError) as error:
            log(f"sd14-adapter: ignoring a line that is not a request ({error}): {line[:200]}")
            continue
        try:
            generate(pipe, device, request)
            answer({"id": request_id, "ok": True})
        except Exception as error:  # one image's failure (out of memory, a bad size) must not end the program
            traceback.print_exc(file=sys.stderr)
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            answer({"id": request_id, "ok": False, "error": f"{type(error).__name__}: {error}"})
    log("sd14-adapter: stdin ended, exiting")


if __name__ == "__main__":
    main()
