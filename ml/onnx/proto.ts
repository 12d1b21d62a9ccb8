import protobuf from 'protobufjs';

/**
 * The part of ONNX's `onnx.proto` (IR version 8) that fer-dag writes and reads: models, graphs, nodes,
 * attributes, dense tensors and value infos. Field numbers are the spec's; protobufjs does the wire format
 * (why a library: varints, packed repeats and 64-bit integers are easy to get subtly wrong by hand).
 */
const ONNX_PROTO = `
syntax = "proto3";
package onnx;
message StringStringEntryProto { string key = 1; string value = 2; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
}
message ValueInfoProto { string name = 1; TypeProto type = 2; string doc_string = 3; }
message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4;
  repeated int32 int32_data = 5;
  repeated int64 int64_data = 7;
  string name = 8;
  bytes raw_data = 9;
}
message AttributeProto {
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  int32 type = 20;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string domain = 7;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message ModelProto {
  int64 ir_version = 1;
  string producer_name = 2;
  string producer_version = 3;
  GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

/** TensorProto.DataType values used here. */
export const DATA_TYPE = { float32: 1, int32: 6, int64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
export const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

let modelType: protobuf.Type | undefined;
function model(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Plain-object messages in the proto's own field names (snake_case). */
export type ProtoObject = Record<string, unknown>;

export function encodeModelProto(message: ProtoObject): Uint8Array {
  const type = model();
  const problem = type.verify(message);
  if (problem) throw new Error(`cannot write the ONNX model: ${problem}`);
  return type.encode(type.fromObject(message)).finish();
}

/** The model as plain objects: int64 fields as numbers, bytes as Uint8Array. */
export function decodeModelProto(bytes: Uint8Array): ProtoObject {
  const type = model();
  return type.toObject(type.decode(bytes), { longs: Number, defaults: false, arrays: true }) as ProtoObject;
}
