//! What a command acts on: the mesh, a namespace, a Service, one Service port,
//! or a pod and its container ports.
//!
//! The grammar is the contract's (`mesh`, `NS`, `NS/`, `NS/SVC`, `NS/SVC:PORT`,
//! `NS/pod/NAME`, `NS/pod/NAME:PORT`).
//! Parsing is strict and names the part that is wrong, because a typo in a target
//! of a mutating command must never be guessed at.

use std::fmt;
use std::str::FromStr;

/// A Service port as the user named it: by number or by the port's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(name) => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The mesh-wide setting, in the root namespace.
    Mesh,
    Namespace(String),
    Service {
        namespace: String,
        service: String,
    },
    Port {
        namespace: String,
        service: String,
        port: PortRef,
    },
    /// A pod: its workload-level decision and each of its ports; with
    /// `port`, one container port (by number, or by a container port's name).
    Pod {
        namespace: String,
        pod: String,
        port: Option<PortRef>,
    },
}

impl Target {
    /// The namespace the target lies in; `None` for the mesh.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Target::Mesh => None,
            Target::Namespace(namespace)
            | Target::Service { namespace, .. }
            | Target::Port { namespace, .. }
            | Target::Pod { namespace, .. } => Some(namespace),
        }
    }
}

/// Why a target did not parse. The message quotes the whole target and names the
/// bad part, e.g. `invalid target "prod/api:http:8080": expected NAMESPACE/SERVICE:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {input:?}: {reason}")]
pub struct TargetError {
    pub input: String,
    pub reason: String,
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| TargetError {
            input: input.to_string(),
            reason,
        };
        if input == "mesh" {
            return Ok(Target::Mesh);
        }
        let Some((namespace, rest)) = input.split_once('/') else {
            if input.contains(':') {
                return Err(fail(
                    "expected NAMESPACE/SERVICE:PORT (a port needs a service)".into(),
                ));
            }
            check_label("namespace", input).map_err(fail)?;
            return Ok(Target::Namespace(input.to_string()));
        };
        check_label("namespace", namespace).map_err(fail)?;
        if rest.is_empty() {
            return Ok(Target::Namespace(namespace.to_string()));
        }
        if let Some(pod) = rest.strip_prefix("pod/") {
            return parse_pod(namespace, pod).map_err(fail);
        }
        if rest.contains('/') {
            return Err(fail(
                "expected NAMESPACE/SERVICE:PORT or NAMESPACE/pod/NAME[:PORT] \
                 (only one '/' is allowed before a service)"
                    .into(),
            ));
        }
        let (service, port) = match rest.split_once(':') {
            None => (rest, None),
            Some((_, port)) if port.contains(':') => {
                return Err(fail("expected NAMESPACE/SERVICE:PORT".into()));
            }
            Some((service, port)) => (service, Some(port)),
        };
        check_label("service", service).map_err(fail)?;
        let Some(port) = port else {
            return Ok(Target::Service {
                namespace: namespace.to_string(),
                service: service.to_string(),
            });
        };
        Ok(Target::Port {
            namespace: namespace.to_string(),
            service: service.to_string(),
            port: parse_port(port).map_err(fail)?,
        })
    }
}

/// `NAME[:PORT]` after `NS/pod/`.
fn parse_pod(namespace: &str, rest: &str) -> Result<Target, String> {
    let (pod, port) = match rest.split_once(':') {
        None => (rest, None),
        Some((_, port)) if port.contains(':') => {
            return Err("expected NAMESPACE/pod/NAME:PORT".into());
        }
        Some((pod, port)) => (pod, Some(port)),
    };
    if pod.contains('/') {
        return Err("expected NAMESPACE/pod/NAME[:PORT] (a pod name has no '/')".into());
    }
    check_subdomain("pod", pod)?;
    Ok(Target::Pod {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        port: port.map(parse_port).transpose()?,
    })
}

fn parse_port(port: &str) -> Result<PortRef, String> {
    if port.is_empty() {
        return Err("the port is empty (expected a number 1..65535 or a port name)".into());
    }
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return match port.parse::<u16>() {
            Ok(n) if n >= 1 => Ok(PortRef::Number(n)),
            _ => Err(format!("port {port} is out of range 1..65535")),
        };
    }
    check_label("port name", port)?;
    Ok(PortRef::Name(port.to_string()))
}

/// Checks a DNS-1123 label: lowercase alphanumerics and '-', at most 63
/// characters, alphanumeric at both ends. Namespace, Service and Service port
/// names are all such labels.
pub fn check_label(what: &str, value: &str) -> Result<(), String> {
    const RULE: &str = "lowercase letters, digits and '-', at most 63 characters, \
                        starting and ending with a letter or digit";
    if value.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    let bytes = value.as_bytes();
    let valid_chars = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let valid_ends =
        bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric();
    if value.len() > 63 || !valid_chars || !valid_ends {
        return Err(format!("{what} {value:?} is not a valid name ({RULE})"));
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain, which pod names are: dot-separated labels,
/// at most 253 characters.
pub fn check_subdomain(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    let valid = value.len() <= 253
        && value
            .split('.')
            .all(|label| check_label(what, label).is_ok());
    if !valid {
        return Err(format!(
            "{what} name {value:?} is not a valid name (lowercase letters, digits, '-' and '.', \
             at most 253 characters, each part between dots starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

impl fmt::Display for Target {
    /// The canonical spelling, which parses back to the same target.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Mesh => f.write_str("mesh"),
            Target::Namespace(ns) if ns == "mesh" => f.write_str("mesh/"),
            Target::Namespace(ns) => f.write_str(ns),
            Target::Service { namespace, service } => write!(f, "{namespace}/{service}"),
            Target::Port {
                namespace,
                service,
                port,
            } => write!(f, "{namespace}/{service}:{port}"),
            Target::Pod {
                namespace,
                pod,
                port: None,
            } => write!(f, "{namespace}/pod/{pod}"),
            Target::Pod {
                namespace,
                pod,
                port: Some(port),
            } => write!(f, "{namespace}/pod/{pod}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: &str) -> Target {
        Target::Namespace(n.into())
    }
    fn svc(n: &str, s: &str) -> Target {
        Target::Service {
            namespace: n.into(),
            service: s.into(),
        }
    }
    fn port(n: &str, s: &str, p: PortRef) -> Target {
        Target::Port {
            namespace: n.into(),
            service: s.into(),
            port: p,
        }
    }
    fn pod(n: &str, name: &str, p: Option<PortRef>) -> Target {
        Target::Pod {
            namespace: n.into(),
            pod: name.into(),
            port: p,
        }
    }

    #[test]
    fn valid_targets_parse_and_print_canonically() {
        let cases = [
            ("mesh", Target::Mesh, "mesh"),
            ("prod", ns("prod"), "prod"),
            ("prod/", ns("prod"), "prod"),
            ("mesh/", ns("mesh"), "mesh/"),
            ("mesh/api", svc("mesh", "api"), "mesh/api"),
            ("prod/api", svc("prod", "api"), "prod/api"),
            ("a/b", svc("a", "b"), "a/b"),
            (
                "prod/api:8080",
                port("prod", "api", PortRef::Number(8080)),
                "prod/api:8080",
            ),
            (
                "prod/api:1",
                port("prod", "api", PortRef::Number(1)),
                "prod/api:1",
            ),
            (
                "prod/api:65535",
                port("prod", "api", PortRef::Number(65535)),
                "prod/api:65535",
            ),
            (
                "prod/api:http",
                port("prod", "api", PortRef::Name("http".into())),
                "prod/api:http",
            ),
            (
                "prod/api:grpc-web",
                port("prod", "api", PortRef::Name("grpc-web".into())),
                "prod/api:grpc-web",
            ),
            (
                "prod/api:08080",
                port("prod", "api", PortRef::Number(8080)),
                "prod/api:8080",
            ),
            (&"a".repeat(63), ns(&"a".repeat(63)), &"a".repeat(63)),
            (
                "prod/pod/api-7d4-x2k",
                pod("prod", "api-7d4-x2k", None),
                "prod/pod/api-7d4-x2k",
            ),
            (
                "prod/pod/web.v1:8080",
                pod("prod", "web.v1", Some(PortRef::Number(8080))),
                "prod/pod/web.v1:8080",
            ),
            (
                "prod/pod/web-1:http",
                pod("prod", "web-1", Some(PortRef::Name("http".into()))),
                "prod/pod/web-1:http",
            ),
            // `NS/pod` is the Service called pod.
            ("prod/pod", svc("prod", "pod"), "prod/pod"),
            (
                "prod/pod:80",
                port("prod", "pod", PortRef::Number(80)),
                "prod/pod:80",
            ),
        ];
        for (input, want, canonical) in cases {
            let got: Target = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, want, "{input}");
            assert_eq!(got.to_string(), canonical, "{input}");
            assert_eq!(
                canonical.parse::<Target>(),
                Ok(got),
                "round trip of {input}"
            );
        }
    }

    #[test]
    fn invalid_targets_name_the_bad_part() {
        let cases = [
            ("prod/api:http:8080", "expected NAMESPACE/SERVICE:PORT"),
            (
                "prod/api/x",
                "expected NAMESPACE/SERVICE:PORT or NAMESPACE/pod/NAME[:PORT]",
            ),
            ("prod/pod/", "the pod name is empty"),
            (
                "prod/pod/a/b",
                "expected NAMESPACE/pod/NAME[:PORT] (a pod name has no '/')",
            ),
            ("prod/pod/Web", "pod name \"Web\" is not a valid name"),
            ("prod/pod/web..1", "pod name \"web..1\" is not a valid name"),
            ("prod/pod/web:0", "port 0 is out of range 1..65535"),
            ("prod/pod/web:1:2", "expected NAMESPACE/pod/NAME:PORT"),
            ("prod/pod/web:", "the port is empty"),
            (
                "prod:8080",
                "expected NAMESPACE/SERVICE:PORT (a port needs a service)",
            ),
            ("", "the namespace is empty"),
            ("/api", "the namespace is empty"),
            ("prod/:80", "the service is empty"),
            (
                "prod/api:",
                "the port is empty (expected a number 1..65535 or a port name)",
            ),
            ("prod/api:0", "port 0 is out of range 1..65535"),
            ("prod/api:65536", "port 65536 is out of range 1..65535"),
            (
                "prod/api:99999999999999999999",
                "port 99999999999999999999 is out of range 1..65535",
            ),
            ("Prod", "namespace \"Prod\" is not a valid name"),
            ("prod/Api", "service \"Api\" is not a valid name"),
            ("-prod", "namespace \"-prod\" is not a valid name"),
            ("prod-", "namespace \"prod-\" is not a valid name"),
            ("prod/api_v2", "service \"api_v2\" is not a valid name"),
            ("prod/api:HTTP", "port name \"HTTP\" is not a valid name"),
            ("prod/api:-1", "port name \"-1\" is not a valid name"),
            ("pröd", "namespace \"pröd\" is not a valid name"),
        ];
        for (input, reason) in cases {
            let err = input.parse::<Target>().expect_err(input);
            assert_eq!(err.input, input);
            assert!(
                err.reason.starts_with(reason),
                "{input}: got {:?}, want it to start with {reason:?}",
                err.reason
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid target {input:?}: "))
            );
        }
        let too_long = "a".repeat(64);
        assert!(too_long.parse::<Target>().is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_input_parses_or_errs_without_panicking(input in "\\PC{0,80}") {
            let _ = input.parse::<Target>();
        }

        #[test]
        fn valid_targets_round_trip(ns in "[a-z]([a-z0-9-]{0,20}[a-z0-9])?", svc in "[a-z]([a-z0-9-]{0,20}[a-z0-9])?",
                                    port in 1u16.., name in "[a-z]([a-z0-9-]{0,10}[a-z])?") {
            for target in [
                Target::Namespace(ns.clone()),
                Target::Service { namespace: ns.clone(), service: svc.clone() },
                Target::Port { namespace: ns.clone(), service: svc.clone(), port: PortRef::Number(port) },
                Target::Port { namespace: ns.clone(), service: svc.clone(), port: PortRef::Name(name.clone()) },
                Target::Pod { namespace: ns.clone(), pod: format!("{svc}.{name}"), port: None },
                Target::Pod { namespace: ns.clone(), pod: svc.clone(), port: Some(PortRef::Number(port)) },
            ] {
                proptest::prop_assert_eq!(target.to_string().parse::<Target>(), Ok(target));
            }
        }
    }

    #[test]
    fn the_contract_example_error_reads_exactly() {
        let err = "prod/api:http:8080".parse::<Target>().expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "invalid target \"prod/api:http:8080\": expected NAMESPACE/SERVICE:PORT"
        );
    }
}
