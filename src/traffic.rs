//! Observed traffic (docs/semantics.md §7): what Istio's standard metrics say
//! each Service received over a window — requests and TCP connections, over
//! mTLS or in plaintext — and from which callers. Configuration says what may
//! happen; this says what does. Pure: samples in, summaries out; the queries
//! are `source::prometheus`'s.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::mode::Enforced;
use crate::policy::Service;
use crate::policy::resolve::{Index, Row, RowEnforced, Scope};

/// What `connection_security_policy` says of a call, as the server's proxy
/// reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Security {
    /// `mutual_tls`.
    Mtls,
    /// `none`: plaintext.
    Plaintext,
    /// `unknown`, or anything else.
    Unknown,
}

impl Security {
    pub fn from_label(value: &str) -> Security {
        match value {
            "mutual_tls" => Security::Mtls,
            "none" => Security::Plaintext,
            _ => Security::Unknown,
        }
    }
}

/// Which standard metric a sample comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `istio_requests_total`: HTTP and gRPC requests.
    Requests,
    /// `istio_tcp_connections_opened_total`: TCP connections (and, from
    /// ztunnel, every connection to an ambient workload).
    Connections,
}

/// One series of a query's answer: how many calls one caller made to one
/// workload of one Service over the window, with one security.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub kind: Kind,
    /// `destination_service_namespace`, `destination_service_name`.
    pub service_namespace: String,
    pub service: String,
    /// `destination_workload_namespace`, `destination_workload`.
    pub workload_namespace: String,
    pub workload: String,
    /// `source_workload_namespace`, `source_workload`; `unknown` for callers
    /// outside the mesh.
    pub source_namespace: String,
    pub source_workload: String,
    pub security: Security,
    /// The increase of the counter over the window (Prometheus extrapolates:
    /// not always a whole number).
    pub count: f64,
}

/// Calls by security, rounded to whole calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub mtls: u64,
    pub plaintext: u64,
    pub unknown: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.mtls + self.plaintext + self.unknown
    }

    fn add(&mut self, other: Counts) {
        self.mtls += other.mtls;
        self.plaintext += other.plaintext;
        self.unknown += other.unknown;
    }
}

/// Sums of samples, rounded once at the end.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    mtls: f64,
    plaintext: f64,
    unknown: f64,
}

impl Sums {
    fn add(&mut self, security: Security, count: f64) {
        match security {
            Security::Mtls => self.mtls += count,
            Security::Plaintext => self.plaintext += count,
            Security::Unknown => self.unknown += count,
        }
    }

    fn counts(self) -> Counts {
        let round = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v.round() as u64
            } else {
                0
            }
        };
        Counts {
            mtls: round(self.mtls),
            plaintext: round(self.plaintext),
            unknown: round(self.unknown),
        }
    }
}

/// Requests and connections together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Calls {
    pub requests: Counts,
    pub connections: Counts,
}

impl Calls {
    /// Requests and connections, each one call.
    pub fn total(&self) -> u64 {
        self.requests.total() + self.connections.total()
    }

    pub fn plaintext(&self) -> u64 {
        self.requests.plaintext + self.connections.plaintext
    }

    /// The share of calls in plaintext; `None` without calls.
    pub fn plaintext_share(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.plaintext() as f64 / total as f64)
    }

    pub fn add(&mut self, other: Calls) {
        self.requests.add(other.requests);
        self.connections.add(other.connections);
    }
}

/// A caller that sent plaintext.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaintextCaller {
    /// `unknown` for callers outside the mesh.
    pub namespace: String,
    pub workload: String,
    pub requests: u64,
    pub connections: u64,
    /// Its plaintext calls as a share of all the Service's calls.
    pub share: f64,
}

/// What one workload behind a Service received.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadCalls {
    pub workload: String,
    #[serde(flatten)]
    pub calls: Calls,
}

/// What one Service received over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCalls {
    #[serde(flatten)]
    pub calls: Calls,
    pub plaintext_share: Option<f64>,
    /// By the workload that received them, in name order.
    pub workloads: Vec<WorkloadCalls>,
    /// The callers that sent plaintext, most calls first.
    pub plaintext_callers: Vec<PlaintextCaller>,
}

/// Every sample of a window, indexed by Service.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    by_service: BTreeMap<(String, String), Vec<Sample>>,
}

impl Observed {
    pub fn new(samples: Vec<Sample>) -> Observed {
        let mut by_service: BTreeMap<(String, String), Vec<Sample>> = BTreeMap::new();
        for sample in samples {
            by_service
                .entry((sample.service_namespace.clone(), sample.service.clone()))
                .or_default()
                .push(sample);
        }
        Observed { by_service }
    }

    /// What the Service `namespace/name` received.
    pub fn service(&self, namespace: &str, name: &str) -> ServiceCalls {
        let samples = self
            .by_service
            .get(&(namespace.to_string(), name.to_string()))
            .map_or(&[][..], Vec::as_slice);
        summarize(samples)
    }

    /// Everything the Services of `namespace` (all, with `None`) received.
    pub fn total(&self, namespace: Option<&str>) -> Calls {
        let samples: Vec<&Sample> = self
            .by_service
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .flat_map(|(_, s)| s)
            .collect();
        calls(samples.into_iter())
    }

    /// The Services the metrics name, `(namespace, name)`, in order.
    pub fn services(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_service
            .keys()
            .map(|(ns, name)| (ns.as_str(), name.as_str()))
    }

    /// The Services that received plaintext, with their figures.
    pub fn with_plaintext(&self) -> Vec<((&str, &str), ServiceCalls)> {
        self.by_service
            .iter()
            .map(|((ns, name), samples)| ((ns.as_str(), name.as_str()), summarize(samples)))
            .filter(|(_, calls)| calls.calls.plaintext() > 0)
            .collect()
    }
}

fn calls<'s>(samples: impl Iterator<Item = &'s Sample>) -> Calls {
    let (mut requests, mut connections) = (Sums::default(), Sums::default());
    for s in samples {
        match s.kind {
            Kind::Requests => requests.add(s.security, s.count),
            Kind::Connections => connections.add(s.security, s.count),
        }
    }
    Calls {
        requests: requests.counts(),
        connections: connections.counts(),
    }
}

fn summarize(samples: &[Sample]) -> ServiceCalls {
    let total = calls(samples.iter());
    let mut workloads: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    let mut callers: BTreeMap<(&str, &str), Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        workloads.entry(&s.workload).or_default().push(s);
        if s.security == Security::Plaintext {
            callers
                .entry((&s.source_namespace, &s.source_workload))
                .or_default()
                .push(s);
        }
    }
    let mut plaintext_callers: Vec<PlaintextCaller> = callers
        .into_iter()
        .map(|((namespace, workload), samples)| {
            let c = calls(samples.into_iter());
            PlaintextCaller {
                namespace: namespace.to_string(),
                workload: workload.to_string(),
                requests: c.requests.plaintext,
                connections: c.connections.plaintext,
                share: match total.total() {
                    0 => 0.0,
                    all => c.plaintext() as f64 / all as f64,
                },
            }
        })
        .filter(|c| c.requests + c.connections > 0)
        .collect();
    plaintext_callers.sort_by(|a, b| {
        (b.requests + b.connections)
            .cmp(&(a.requests + a.connections))
            .then_with(|| (&a.namespace, &a.workload).cmp(&(&b.namespace, &b.workload)))
    });
    ServiceCalls {
        calls: total,
        plaintext_share: total.plaintext_share(),
        workloads: workloads
            .into_iter()
            .map(|(workload, samples)| WorkloadCalls {
                workload: workload.to_string(),
                calls: calls(samples.into_iter()),
            })
            .collect(),
        plaintext_callers,
    }
}

/// The calls a `get` row's Services received (`get --traffic`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowTraffic {
    #[serde(flatten)]
    pub calls: Calls,
    pub plaintext_share: Option<f64>,
}

/// Fills each row's traffic: the mesh's, a namespace's Services', a Service's
/// (for its ports too: the metrics carry no port). Pods are left out: the
/// metrics name workloads, not pods.
pub fn annotate(rows: &mut [Row], observed: &Observed) {
    for row in rows {
        let calls = match (row.scope, &row.namespace, &row.service) {
            (Scope::Mesh, ..) => observed.total(None),
            (Scope::Namespace, Some(ns), _) => observed.total(Some(ns)),
            (Scope::Service | Scope::Port, Some(ns), Some(svc)) => observed.service(ns, svc).calls,
            _ => continue,
        };
        row.traffic = Some(RowTraffic {
            calls,
            plaintext_share: calls.plaintext_share(),
        });
    }
}

/// What `mtls traffic` says of one Service: its ports' modes beside what it
/// received. The JSON form is the contract's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTraffic {
    /// `NS/NAME`.
    pub target: String,
    pub namespace: String,
    pub service: String,
    /// Each port's rows (declared and enforced mode); empty for a Service
    /// the metrics name but the cluster (or the manifests) do not have.
    pub ports: Vec<Row>,
    #[serde(flatten)]
    pub observed: ServiceCalls,
}

/// The report of one Service of the snapshot.
pub fn service_traffic(
    index: &Index<'_>,
    service: &Service,
    observed: &Observed,
) -> ServiceTraffic {
    let (namespace, name) = (&service.id.namespace, &service.id.name);
    ServiceTraffic {
        target: format!("{namespace}/{name}"),
        namespace: namespace.clone(),
        service: name.clone(),
        ports: service
            .ports
            .iter()
            .map(|p| index.port_row(service, p))
            .collect(),
        observed: observed.service(namespace, name),
    }
}

/// The report of a Service only the metrics name (deleted since, or not in
/// the manifests).
pub fn unknown_service_traffic(namespace: &str, name: &str, observed: &Observed) -> ServiceTraffic {
    ServiceTraffic {
        target: format!("{namespace}/{name}"),
        namespace: namespace.to_string(),
        service: name.to_string(),
        ports: Vec::new(),
        observed: observed.service(namespace, name),
    }
}

/// The Services (`NS/NAME`) with ports where more pods enforce STRICT after
/// a change than before, with those ports' targets: plaintext that reached
/// them would now be rejected.
pub fn newly_strict(before: &[Row], after: &[Row]) -> Vec<((String, String), Vec<String>)> {
    let strict_pods = |row: &Row| -> usize {
        match (&row.enforced, row.judged()) {
            (_, Some(RowEnforced::Single(Enforced::Strict))) => row.workloads.unwrap_or(1).max(1),
            (Some(RowEnforced::Mixed), _) => row
                .enforced_modes
                .as_ref()
                .and_then(|m| m.get(&Enforced::Strict))
                .copied()
                .unwrap_or(0),
            _ => 0,
        }
    };
    let mut services: Vec<((String, String), Vec<String>)> = Vec::new();
    for row in after.iter().filter(|r| r.scope == Scope::Port) {
        let was = before
            .iter()
            .find(|b| {
                b.scope == Scope::Port && b.target == row.target && b.port_name == row.port_name
            })
            .map_or(0, strict_pods);
        if strict_pods(row) > was
            && let (Some(ns), Some(svc)) = (&row.namespace, &row.service)
        {
            let key = (ns.clone(), svc.clone());
            match services.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ports)) => ports.push(row.target.clone()),
                None => services.push((key, vec![row.target.clone()])),
            }
        }
    }
    services
}

/// How far back traffic is read: a Prometheus duration such as `24h`, `90m`,
/// `7d` or `1h30m`, shown as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub seconds: u64,
    text: String,
}

impl FromStr for Since {
    type Err = String;

    fn from_str(text: &str) -> Result<Since, String> {
        let bad = || {
            format!(
                "{text:?} is no duration: use a number and a unit, s, m, h, d or w, \
                 as in 30m, 24h, 7d or 1h30m"
            )
        };
        let mut seconds: u64 = 0;
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            seconds = n
                .checked_mul(unit)
                .and_then(|s| seconds.checked_add(s))
                .ok_or_else(bad)?;
            digits.clear();
        }
        if !digits.is_empty() || seconds == 0 {
            return Err(bad());
        }
        Ok(Since {
            seconds,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: Kind, from: (&str, &str), security: Security, count: f64) -> Sample {
        Sample {
            kind,
            service_namespace: "prod".into(),
            service: "api".into(),
            workload_namespace: "prod".into(),
            workload: "api-v1".into(),
            source_namespace: from.0.into(),
            source_workload: from.1.into(),
            security,
            count,
        }
    }

    #[test]
    fn calls_split_by_security_and_callers_of_plaintext_rank_by_calls() {
        let observed = Observed::new(vec![
            sample(Kind::Requests, ("web", "front"), Security::Mtls, 600.4),
            sample(
                Kind::Requests,
                ("batch", "cron"),
                Security::Plaintext,
                299.6,
            ),
            sample(
                Kind::Connections,
                ("unknown", "unknown"),
                Security::Plaintext,
                100.0,
            ),
        ]);
        let api = observed.service("prod", "api");
        assert_eq!(
            (api.calls.requests, api.calls.connections),
            (
                Counts {
                    mtls: 600,
                    plaintext: 300,
                    unknown: 0
                },
                Counts {
                    mtls: 0,
                    plaintext: 100,
                    unknown: 0
                }
            )
        );
        assert_eq!(api.plaintext_share, Some(0.4));
        let callers: Vec<(&str, u64, u64, f64)> = api
            .plaintext_callers
            .iter()
            .map(|c| (c.workload.as_str(), c.requests, c.connections, c.share))
            .collect();
        assert_eq!(callers, [("cron", 300, 0, 0.3), ("unknown", 0, 100, 0.1)]);
        assert_eq!(observed.service("prod", "other").plaintext_share, None);
        assert_eq!(observed.total(Some("prod")).plaintext(), 400);
        assert_eq!(observed.total(Some("web")).total(), 0);
    }

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        for (text, seconds, shown) in [
            ("24h", 86_400, "24h"),
            ("90m", 5400, "90m"),
            ("1h30m", 5400, "1h30m"),
            ("7d", 604_800, "7d"),
            ("45s", 45, "45s"),
        ] {
            let since: Since = text.parse().expect(text);
            assert_eq!(
                (since.seconds, since.to_string()),
                (seconds, shown.to_string())
            );
        }
        for bad in [
            "",
            "24",
            "h",
            "1y",
            "-1h",
            "0h",
            "1.5h",
            "99999999999999999999w",
        ] {
            assert!(bad.parse::<Since>().is_err(), "{bad}");
        }
    }
}
