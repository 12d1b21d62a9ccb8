import { ATTRIBUTE_TYPE, DATA_TYPE, decodeModelProto, encodeModelProto, type ProtoObject } from './proto.js';

/**
 * A small ONNX graph under construction, for the converter (tfjs graph models) and the exporter (fer-dag's
 * trained models): nodes in topological order, constant tensors, and named inputs and outputs. Kept apart
 * from the wire format (proto.ts) so both writers deal in tensors and attributes, not protobuf messages.
 */

export type TensorData = Float32Array | Int32Array | BigInt64Array;

export interface Initializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** An attribute's value, tagged with its ONNX type (a plain number would not say int or float). */
export type Attribute =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

export interface GraphNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, Attribute>>;
}

/** A dimension is a size or, for a batch, a symbolic name. */
export type Dimension = number | string;

export interface GraphValue {
  readonly name: string;
  /** Absent: shape not declared (outputs, inferred by the runtime). */
  readonly dims?: readonly Dimension[];
}

/** The opset every graph here is written for; ORT 1.30 runs it, and ReduceMean still takes `axes` as an attribute. */
export const OPSET = 17;
const IR_VERSION = 8;

export class OnnxGraph {
  readonly nodes: GraphNode[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: GraphValue[] = [];
  readonly outputs: GraphValue[] = [];
  private readonly used = new Set<string>();

  /** A name not used yet in this graph, derived from `hint` (tfjs node names are unique; ours get suffixes). */
  unique(hint: string): string {
    let name = hint;
    for (let k = 1; this.used.has(name); k++) name = `${hint}_${k}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: readonly Dimension[]): string {
    const unique = this.unique(name);
    this.inputs.push({ name: unique, dims });
    return unique;
  }

  /** Marks an existing value as a graph output; its shape is left for onnxruntime to infer. */
  output(name: string): void {
    this.outputs.push({ name });
  }

  /** Keeps `name` for a later output: values made before then get suffixed names instead. */
  reserve(name: string): void {
    this.used.add(name);
  }

  constant(hint: string, data: TensorData, dims: readonly number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`constant ${hint}: ${data.length} values for dims [${dims.join(', ')}]`);
    const name = this.unique(hint);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** Adds one node and returns its outputs' names (`count` of them, named after `hint`). */
  node(
    op: string,
    inputs: readonly string[],
    hint: string,
    attributes: Record<string, Attribute> = {},
    count = 1,
  ): string[] {
    const outputs = Array.from({ length: count }, (_, k) => this.unique(count === 1 ? hint : `${hint}:${k}`));
    this.nodes.push({ op, inputs, outputs, attributes });
    return outputs;
  }

  /** The one-output case of `node`. */
  op(op: string, inputs: readonly string[], hint: string, attributes: Record<string, Attribute> = {}): string {
    return this.node(op, inputs, hint, attributes)[0]!;
  }

  /** The serialised model; `metadata` lands in its `metadata_props` (what InferenceSession.metadata shows). */
  encode(name: string, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
    return encodeModelProto({
      ir_version: IR_VERSION,
      producer_name: 'fer-dag',
      opset_import: [{ domain: '', version: OPSET }],
      metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name,
        node: this.nodes.map((n, k) => ({
          name: `${n.op}_${k}`,
          op_type: n.op,
          input: [...n.inputs],
          output: [...n.outputs],
          attribute: Object.entries(n.attributes).map(([key, value]) => attributeProto(key, value)),
        })),
        initializer: this.initializers.map(tensorProto),
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
  }
}

function attributeProto(name: string, value: Attribute): ProtoObject {
  if ('int' in value) return { name, type: ATTRIBUTE_TYPE.int, i: value.int };
  if ('float' in value) return { name, type: ATTRIBUTE_TYPE.float, f: value.float };
  if ('string' in value) return { name, type: ATTRIBUTE_TYPE.string, s: new TextEncoder().encode(value.string) };
  if ('ints' in value) return { name, type: ATTRIBUTE_TYPE.ints, ints: [...value.ints] };
  return { name, type: ATTRIBUTE_TYPE.floats, floats: [...value.floats] };
}

function tensorProto({ name, dims, data }: Initializer): ProtoObject {
  const dataType =
    data instanceof Float32Array ? DATA_TYPE.float32 : data instanceof Int32Array ? DATA_TYPE.int32 : DATA_TYPE.int64;
  // raw_data is little-endian, as this machine (x86-64, arm64) already holds it.
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return { name, dims: [...dims], data_type: dataType, raw_data: raw };
}

function valueInfo({ name, dims }: GraphValue): ProtoObject {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: DATA_TYPE.float32,
        ...(dims
          ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } }
          : {}),
      },
    },
  };
}

/** The `metadata_props` of a serialised model, for readers that do not open a session. */
export function modelMetadataProps(bytes: Uint8Array): Record<string, string> {
  const props = (decodeModelProto(bytes).metadata_props ?? []) as Array<{ key: string; value: string }>;
  return Object.fromEntries(props.map(({ key, value }) => [key, value]));
}

/** Int64 constants (ONNX shapes, axes and pads are int64). */
export const int64s = (values: readonly number[]): BigInt64Array => BigInt64Array.from(values.map((v) => BigInt(v)));
