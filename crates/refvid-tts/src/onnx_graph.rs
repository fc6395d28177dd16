//! Two small edits to a Piper `.onnx` file, made on its protobuf bytes before ONNX Runtime
//! loads it.
//!
//! 1. **Seeded noise.** A Piper VITS graph draws its two noises itself (`RandomNormalLike`):
//!    one for the duration predictor, one for the prior. ONNX Runtime's generator cannot be
//!    re-seeded per call, so each such node is removed and its output becomes a graph input
//!    that refvid fills from a seeded generator: the same line with the same seed is the
//!    same audio, on every machine and run.
//! 2. **A durations-only graph.** The API server refuses dialogue that would not fit the clip
//!    before accepting a task, so it needs each line's length without making its audio. The
//!    graph is cut back to what the durations (the single `Ceil` node: frames per phoneme) and
//!    the prior's shape (the prior noise's template) depend on: the text encoder and the
//!    duration predictor, about a seventh of the work.
//!
//! Only the fields these edits touch are decoded (a graph's nodes, initializers, inputs,
//! outputs and value infos; a node's inputs, outputs and operator); everything else is copied
//! through byte for byte.

use crate::TtsError;
use std::collections::HashSet;

// Field numbers from onnx.proto.
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const GRAPH_VALUE_INFO: u32 = 13;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_OP_TYPE: u32 = 4;
const TENSOR_NAME: u32 = 8;
const VALUE_INFO_NAME: u32 = 1;
const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// The prepared graphs and the names refvid feeds and reads.
#[derive(Debug, Clone)]
pub struct PreparedModel {
    /// The whole model with both noises as inputs.
    pub full: Vec<u8>,
    /// Only what durations depend on.
    pub durations: Vec<u8>,
    pub names: GraphNames,
}

/// Tensor names inside a prepared model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNames {
    /// Standard normal noise for the duration predictor, shaped `[1, 2, phonemes]`.
    pub duration_noise: String,
    /// Standard normal noise for the prior, shaped like `prior_template`.
    pub prior_noise: String,
    /// Frames per phoneme (`[1, 1, phonemes]`), an output of the durations graph.
    pub frames: String,
    /// A tensor shaped like the prior (`[1, channels, frames]`), an output of the durations graph.
    pub prior_template: String,
    /// The audio, the original model's output.
    pub audio: String,
}

/// One protobuf field: its number, wire type, payload (for length-delimited fields) and its
/// whole encoding (tag included), for copying through.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u32,
    wire: u8,
    payload: &'a [u8],
    raw: &'a [u8],
}

/// A node's operator and tensor names.
#[derive(Debug, Clone)]
struct Node {
    op_type: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// Makes both graphs from the bytes of a Piper `.onnx` file.
pub fn prepare(model: &[u8]) -> Result<PreparedModel, TtsError> {
    let top = fields(model)?;
    let graph_field = top
        .iter()
        .find(|f| f.number == MODEL_GRAPH && f.wire == WIRE_LEN)
        .ok_or_else(|| bad("the file holds no graph"))?;
    let graph = fields(graph_field.payload)?;
    let nodes = graph
        .iter()
        .filter(|f| f.number == GRAPH_NODE)
        .map(|f| node(f.payload))
        .collect::<Result<Vec<_>, _>>()?;
    let names = find_names(&graph, &nodes)?;
    let noises = [names.duration_noise.as_str(), names.prior_noise.as_str()];
    let full = rewrite(&top, &graph, &nodes, &noises, None)?;
    let keep = [names.frames.as_str(), names.prior_template.as_str()];
    let durations = rewrite(&top, &graph, &nodes, &noises, Some(&keep))?;
    Ok(PreparedModel {
        full,
        durations,
        names,
    })
}

/// Finds the noises, the durations node, the prior template and the audio output.
fn find_names(graph: &[Field], nodes: &[Node]) -> Result<GraphNames, TtsError> {
    if let Some(n) = nodes
        .iter()
        .find(|n| matches!(n.op_type.as_str(), "If" | "Loop" | "Scan"))
    {
        return Err(bad(&format!(
            "the graph has control flow ({}), which a Piper VITS graph does not",
            n.op_type
        )));
    }
    let ceil = single(nodes, "Ceil")?;
    let frames = ceil
        .outputs
        .first()
        .cloned()
        .ok_or_else(|| bad("Ceil has no output"))?;
    let before_ceil = ancestors(nodes, &[frames.as_str()]);
    let randoms: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.op_type == "RandomNormalLike")
        .collect();
    if randoms.len() != 2 {
        return Err(bad(&format!(
            "expected the 2 noise nodes of a VITS graph, found {}",
            randoms.len()
        )));
    }
    let output_of = |n: &Node| {
        n.outputs
            .first()
            .cloned()
            .ok_or_else(|| bad("a noise node has no output"))
    };
    let (duration, prior) = match before_ceil.contains(&output_of(randoms[0])?) {
        true => (randoms[0], randoms[1]),
        false => (randoms[1], randoms[0]),
    };
    let audio = graph
        .iter()
        .filter(|f| f.number == GRAPH_OUTPUT)
        .map(|f| value_info_name(f.payload))
        .next()
        .ok_or_else(|| bad("the graph has no output"))??;
    Ok(GraphNames {
        duration_noise: output_of(duration)?,
        prior_noise: output_of(prior)?,
        frames,
        prior_template: prior
            .inputs
            .first()
            .cloned()
            .ok_or_else(|| bad("the prior noise node has no input"))?,
        audio,
    })
}

fn single<'n>(nodes: &'n [Node], op: &str) -> Result<&'n Node, TtsError> {
    let mut found = nodes.iter().filter(|n| n.op_type == op);
    match (found.next(), found.next()) {
        (Some(n), None) => Ok(n),
        _ => Err(bad(&format!(
            "expected exactly one {op} node (a Piper VITS graph)"
        ))),
    }
}

/// Every tensor that `targets` depend on (targets included). Nodes are in topological order,
/// as ONNX requires, so one backward pass suffices.
fn ancestors(nodes: &[Node], targets: &[&str]) -> HashSet<String> {
    let mut needed: HashSet<String> = targets.iter().map(|s| s.to_string()).collect();
    for node in nodes.iter().rev() {
        if node.outputs.iter().any(|o| needed.contains(o)) {
            needed.extend(node.inputs.iter().filter(|i| !i.is_empty()).cloned());
        }
    }
    needed
}

/// The model with the noise nodes turned into inputs and, with `keep`, only what `keep`
/// depends on (which then become the outputs).
fn rewrite(
    top: &[Field],
    graph: &[Field],
    nodes: &[Node],
    noises: &[&str],
    keep: Option<&[&str]>,
) -> Result<Vec<u8>, TtsError> {
    let needed = keep.map(|k| ancestors(nodes, k));
    let wanted = |name: &str| needed.as_ref().is_none_or(|n| n.contains(name));
    let mut body = Vec::with_capacity(graph.iter().map(|f| f.raw.len()).sum());
    let mut node_index = 0;
    for field in graph {
        let copy = match field.number {
            GRAPH_NODE => {
                let node = &nodes[node_index];
                node_index += 1;
                let is_noise = node.outputs.iter().any(|o| noises.contains(&o.as_str()));
                !is_noise && node.outputs.iter().any(|o| wanted(o))
            }
            GRAPH_INITIALIZER => wanted(&tensor_name(field.payload)?),
            GRAPH_INPUT => wanted(&value_info_name(field.payload)?),
            // The noises and new outputs get fresh declarations below.
            GRAPH_VALUE_INFO => {
                let name = value_info_name(field.payload)?;
                let redeclared = noises.contains(&name.as_str())
                    || keep.is_some_and(|k| k.contains(&name.as_str()));
                wanted(&name) && !redeclared
            }
            GRAPH_OUTPUT => keep.is_none(),
            _ => true,
        };
        if copy {
            body.extend_from_slice(field.raw);
        }
    }
    for noise in noises.iter().filter(|n| wanted(n)) {
        put_len(&mut body, GRAPH_INPUT, &float_value_info(noise));
    }
    for output in keep.unwrap_or(&[]) {
        put_len(&mut body, GRAPH_OUTPUT, &float_value_info(output));
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    for field in top {
        match field.number == MODEL_GRAPH && field.wire == WIRE_LEN {
            true => put_len(&mut out, MODEL_GRAPH, &body),
            false => out.extend_from_slice(field.raw),
        }
    }
    Ok(out)
}

/// A `ValueInfoProto` for a float tensor of unknown shape.
fn float_value_info(name: &str) -> Vec<u8> {
    let tensor_type = [0x08, 0x01]; // elem_type = FLOAT
    let mut type_proto = Vec::new();
    put_len(&mut type_proto, 1, &tensor_type); // TypeProto.tensor_type
    let mut info = Vec::new();
    put_len(&mut info, VALUE_INFO_NAME, name.as_bytes());
    put_len(&mut info, 2, &type_proto); // ValueInfoProto.type
    info
}

fn node(payload: &[u8]) -> Result<Node, TtsError> {
    let mut node = Node {
        op_type: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    for f in fields(payload)? {
        match (f.number, f.wire) {
            (NODE_INPUT, WIRE_LEN) => node.inputs.push(text(f.payload)?),
            (NODE_OUTPUT, WIRE_LEN) => node.outputs.push(text(f.payload)?),
            (NODE_OP_TYPE, WIRE_LEN) => node.op_type = text(f.payload)?,
            _ => {}
        }
    }
    Ok(node)
}

fn tensor_name(payload: &[u8]) -> Result<String, TtsError> {
    named(payload, TENSOR_NAME)
}

fn value_info_name(payload: &[u8]) -> Result<String, TtsError> {
    named(payload, VALUE_INFO_NAME)
}

fn named(payload: &[u8], number: u32) -> Result<String, TtsError> {
    let found = fields(payload)?
        .into_iter()
        .find(|f| f.number == number && f.wire == WIRE_LEN);
    found.map(|f| text(f.payload)).unwrap_or(Ok(String::new()))
}

fn text(bytes: &[u8]) -> Result<String, TtsError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| bad("a name is not UTF-8"))
}

/// Splits a message into its fields.
fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, TtsError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let tag = varint(buf, &mut pos)?;
        let (number, wire) = ((tag >> 3) as u32, (tag & 7) as u8);
        let payload_start;
        match wire {
            WIRE_VARINT => {
                varint(buf, &mut pos)?;
                payload_start = pos;
            }
            WIRE_I64 => {
                payload_start = pos;
                pos += 8;
            }
            WIRE_LEN => {
                let len = varint(buf, &mut pos)? as usize;
                payload_start = pos;
                pos = pos
                    .checked_add(len)
                    .ok_or_else(|| bad("a field is too long"))?;
            }
            WIRE_I32 => {
                payload_start = pos;
                pos += 4;
            }
            _ => return Err(bad("an unknown protobuf wire type")),
        }
        if pos > buf.len() {
            return Err(bad("the file is cut short"));
        }
        let payload = match wire {
            WIRE_LEN => &buf[payload_start..pos],
            _ => &[][..],
        };
        out.push(Field {
            number,
            wire,
            payload,
            raw: &buf[start..pos],
        });
    }
    Ok(out)
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, TtsError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or_else(|| bad("the file is cut short"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("a varint is too long"))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_len(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_varint(out, (u64::from(number) << 3) | u64::from(WIRE_LEN));
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

fn bad(why: &str) -> TtsError {
    TtsError::Model(format!("not a Piper VITS model: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_bytes(op: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        for i in inputs {
            put_len(&mut b, NODE_INPUT, i.as_bytes());
        }
        for o in outputs {
            put_len(&mut b, NODE_OUTPUT, o.as_bytes());
        }
        put_len(&mut b, NODE_OP_TYPE, op.as_bytes());
        b
    }

    /// input → Mul(w) → a; RandomNormalLike(a) → n1; Add(a, n1) → Ceil → d;
    /// RandomNormalLike(d) → n2; Add(d, n2) → audio. A model-level varint field rides along.
    fn toy() -> Vec<u8> {
        let mut g = Vec::new();
        for (op, i, o) in [
            ("Mul", vec!["input", "w"], vec!["a"]),
            ("RandomNormalLike", vec!["a"], vec!["n1"]),
            ("Add", vec!["a", "n1"], vec!["b"]),
            ("Ceil", vec!["b"], vec!["d"]),
            ("RandomNormalLike", vec!["d"], vec!["n2"]),
            ("Add", vec!["d", "n2", "v"], vec!["audio"]),
        ] {
            put_len(&mut g, GRAPH_NODE, &node_bytes(op, &i, &o));
        }
        for name in ["w", "v"] {
            let mut t = Vec::new();
            put_len(&mut t, TENSOR_NAME, name.as_bytes());
            put_len(&mut g, GRAPH_INITIALIZER, &t);
        }
        put_len(&mut g, GRAPH_INPUT, &float_value_info("input"));
        put_len(&mut g, GRAPH_OUTPUT, &float_value_info("audio"));
        let mut m = vec![0x08, 0x08]; // ir_version = 8
        put_len(&mut m, MODEL_GRAPH, &g);
        m
    }

    fn graph_of(model: &[u8]) -> (Vec<Node>, Vec<String>, Vec<String>, Vec<String>) {
        let top = fields(model).unwrap();
        let g = fields(
            top.iter()
                .find(|f| f.number == MODEL_GRAPH)
                .unwrap()
                .payload,
        )
        .unwrap();
        let pick = |n: u32| -> Vec<String> {
            g.iter()
                .filter(|f| f.number == n)
                .map(|f| {
                    named(
                        f.payload,
                        if n == GRAPH_INITIALIZER {
                            TENSOR_NAME
                        } else {
                            1
                        },
                    )
                    .unwrap()
                })
                .collect()
        };
        let nodes = g
            .iter()
            .filter(|f| f.number == GRAPH_NODE)
            .map(|f| node(f.payload).unwrap())
            .collect();
        (
            nodes,
            pick(GRAPH_INITIALIZER),
            pick(GRAPH_INPUT),
            pick(GRAPH_OUTPUT),
        )
    }

    #[test]
    fn noises_become_inputs_and_the_durations_graph_keeps_only_what_it_needs() {
        let prepared = prepare(&toy()).unwrap();
        let n = &prepared.names;
        assert_eq!(
            (n.duration_noise.as_str(), n.prior_noise.as_str()),
            ("n1", "n2")
        );
        assert_eq!(
            (
                n.frames.as_str(),
                n.prior_template.as_str(),
                n.audio.as_str()
            ),
            ("d", "d", "audio")
        );
        let (nodes, inits, inputs, outputs) = graph_of(&prepared.full);
        assert_eq!(
            nodes.iter().map(|n| n.op_type.as_str()).collect::<Vec<_>>(),
            ["Mul", "Add", "Ceil", "Add"]
        );
        assert_eq!(
            (inits, inputs, outputs),
            (
                vec!["w".to_string(), "v".into()],
                vec!["input".to_string(), "n1".into(), "n2".into()],
                vec!["audio".to_string()]
            )
        );
        let (nodes, inits, inputs, outputs) = graph_of(&prepared.durations);
        assert_eq!(
            nodes.iter().map(|n| n.op_type.as_str()).collect::<Vec<_>>(),
            ["Mul", "Add", "Ceil"]
        );
        assert_eq!(
            (inits, inputs, outputs),
            (
                vec!["w".to_string()],
                vec!["input".to_string(), "n1".into()],
                vec!["d".to_string(), "d".into()]
            )
        );
        // The model's other fields are copied through.
        assert_eq!(&prepared.full[..2], &[0x08, 0x08]);
    }

    #[test]
    fn other_graphs_and_broken_files_are_refused() {
        let mut g = Vec::new();
        put_len(&mut g, GRAPH_NODE, &node_bytes("Relu", &["x"], &["y"]));
        let mut m = Vec::new();
        put_len(&mut m, MODEL_GRAPH, &g);
        assert!(prepare(&m).unwrap_err().to_string().contains("Ceil"));
        let whole = toy();
        assert!(
            prepare(&whole[..whole.len() - 3])
                .unwrap_err()
                .to_string()
                .contains("cut short")
        );
        assert!(prepare(b"").unwrap_err().to_string().contains("no graph"));
    }
}
