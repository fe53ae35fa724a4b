//! `-o jsonpath=TEMPLATE`, as kubectl reads it (client-go's `util/jsonpath`):
//! text is printed as it is; `{.path}` prints what the path finds in the
//! document (several results separated by spaces, strings as they are, other
//! values as JSON); `{range .path}...{end}` repeats its body for each result,
//! where `.path` is relative to that result; `{"\n"}` prints a string with
//! escapes. Paths are JSONPath, evaluated by jsonpath-rust (`$` the document,
//! `.x`/`@.x` the current element).

use jsonpath_rust::JsonPath;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Path(String),
    Range(String, Vec<Node>),
}

/// The template applied to `document`, or why the template is wrong.
pub fn render(template: &str, document: &Value) -> Result<String, String> {
    let nodes = parse(template)?;
    let mut out = String::new();
    write(&nodes, document, document, &mut out)?;
    Ok(out)
}

fn parse(template: &str) -> Result<Vec<Node>, String> {
    let mut stack: Vec<(Option<String>, Vec<Node>)> = vec![(None, Vec::new())];
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            push(&mut stack, Node::Text(rest.to_string()));
            break;
        };
        if open > 0 {
            push(&mut stack, Node::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let close = closing(after)
            .ok_or_else(|| format!("unclosed {{ in the jsonpath template {template:?}"))?;
        let inner = after[..close].trim();
        rest = &after[close + 1..];
        if let Some(path) = inner.strip_prefix("range ") {
            stack.push((Some(path.trim().to_string()), Vec::new()));
        } else if inner == "end" {
            let (Some(path), body) = stack.pop().unwrap_or((None, Vec::new())) else {
                return Err(format!("{{end}} without {{range}} in {template:?}"));
            };
            push(&mut stack, Node::Range(path, body));
        } else if let Some(text) = string_literal(inner) {
            push(&mut stack, Node::Text(text?));
        } else if inner.is_empty() {
            return Err(format!("an empty {{}} in {template:?}"));
        } else {
            push(&mut stack, Node::Path(inner.to_string()));
        }
    }
    match stack.pop() {
        Some((None, nodes)) if stack.is_empty() => Ok(nodes),
        _ => Err(format!("{{range}} without {{end}} in {template:?}")),
    }
}

/// Where the `}` closing a `{` is, quotes considered.
fn closing(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(_), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '}') => return Some(i),
            _ => {}
        }
        escaped = false;
    }
    None
}

fn push(stack: &mut [(Option<String>, Vec<Node>)], node: Node) {
    if let Some((_, nodes)) = stack.last_mut() {
        nodes.push(node);
    }
}

/// `"..."` or `'...'` with `\n`, `\t`, `\r`, `\\` and the quote escaped.
fn string_literal(inner: &str) -> Option<Result<String, String>> {
    let quote = inner.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = inner.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(c @ ('\\' | '"' | '\'')) => out.push(c),
            other => {
                return Some(Err(format!(
                    "unknown escape \\{} in {inner}",
                    other.map(String::from).unwrap_or_default()
                )));
            }
        }
    }
    Some(Ok(out))
}

fn write(nodes: &[Node], root: &Value, current: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Path(path) => {
                let found: Vec<String> = query(path, root, current)?
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push_str(&found.join(" "));
            }
            Node::Range(path, body) => {
                for item in query(path, root, current)? {
                    write(body, root, item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// What `path` finds: from the document for `$...`, else from the current
/// element (`.x`, `@.x`, `x`).
fn query<'v>(path: &str, root: &'v Value, current: &'v Value) -> Result<Vec<&'v Value>, String> {
    let (from, path) = if path.starts_with('$') {
        (root, path.to_string())
    } else if let Some(rest) = path.strip_prefix('@') {
        (current, format!("${rest}"))
    } else if path.starts_with('.') || path.starts_with('[') {
        (current, format!("${path}"))
    } else {
        (current, format!("$.{path}"))
    };
    from.query(&path)
        .map_err(|e| format!("the jsonpath {path:?} is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({"items": [
            {"target": "prod/api:80", "mode": "STRICT", "workloads": 2, "source": {"level": "namespace"}},
            {"target": "prod/db:5432", "mode": "PERMISSIVE", "workloads": null, "source": null},
        ]})
    }

    #[test]
    fn templates_print_as_kubectl_prints_them() {
        let cases = [
            ("{.items[*].target}", "prod/api:80 prod/db:5432"),
            ("{.items[0].mode}", "STRICT"),
            ("{.items[0].workloads}", "2"),
            ("{.items[0].source}", r#"{"level":"namespace"}"#),
            ("mode: {.items[1].mode}", "mode: PERMISSIVE"),
            (
                r#"{range .items[*]}{.target}{"\t"}{.mode}{"\n"}{end}"#,
                "prod/api:80\tSTRICT\nprod/db:5432\tPERMISSIVE\n",
            ),
            (
                "{range .items[*]}[{@.target}]{end}",
                "[prod/api:80][prod/db:5432]",
            ),
            ("{.nothing}", ""),
            ("{$.items[1].target}", "prod/db:5432"),
        ];
        for (template, expected) in cases {
            assert_eq!(
                render(template, &document()),
                Ok(expected.to_string()),
                "{template}"
            );
        }
    }

    #[test]
    fn broken_templates_say_what_is_wrong() {
        for (template, error) in [
            ("{.items", "unclosed {"),
            ("{end}", "{end} without {range}"),
            ("{range .items[*]}{.target}", "{range} without {end}"),
            ("{}", "an empty {}"),
            (r#"{"\q"}"#, "unknown escape"),
            ("{.items[?}", "is not valid"),
        ] {
            let got = render(template, &document()).expect_err(template);
            assert!(got.contains(error), "{template}: {got}");
        }
    }
}
