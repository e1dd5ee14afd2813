//! Addresses in a JSON tree: the paths to its nodes (for picking one to mutate), a node by
//! its path, and a bounded count of its nodes (for keeping grown trees affordable).

use serde_json::Value;

pub type Path = Vec<Step>;

const MAX_PATHS: usize = 4_096;

#[derive(Clone)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Paths to the nodes of a tree, the first [`MAX_PATHS`] found (a grown tree has too many to
/// list at every mutation).
pub fn paths(root: &Value) -> Vec<Path> {
    let mut out = Vec::new();
    let mut stack = vec![(root, Vec::new())];
    while let Some((node, path)) = stack.pop() {
        if out.len() == MAX_PATHS {
            break;
        }
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    stack.push((v, [path.clone(), vec![Step::Key(k.clone())]].concat()));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    stack.push((v, [path.clone(), vec![Step::Index(i)]].concat()));
                }
            }
            _ => {}
        }
        out.push(path);
    }
    out
}

pub fn node_ref<'a>(mut node: &'a Value, path: &[Step]) -> &'a Value {
    for step in path {
        node = match step {
            Step::Key(k) => &node[k.as_str()],
            Step::Index(i) => &node[*i],
        };
    }
    node
}

pub fn node_mut<'a>(mut node: &'a mut Value, path: &[Step]) -> &'a mut Value {
    for step in path {
        node = match step {
            Step::Key(k) => &mut node[k.as_str()],
            Step::Index(i) => &mut node[*i],
        };
    }
    node
}

/// The nodes of a tree, counted up to `cap`.
pub fn nodes(root: &Value, cap: usize) -> usize {
    let mut count = 0;
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        count += 1;
        if count >= cap {
            break;
        }
        match node {
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    count
}
