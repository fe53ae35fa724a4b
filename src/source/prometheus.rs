//! Prometheus, where Istio's standard metrics are (docs/semantics.md §7).
//!
//! It is reached at a URL the user gives (`--prometheus`, with a bearer token,
//! basic auth or a CA file for one behind auth), or through the Kubernetes API
//! server's service proxy (`/api/v1/namespaces/NS/services/prometheus:9090/
//! proxy/`), so that the kubeconfig's credentials are all it takes. Either way
//! the requests go through a kube-rs client: the same TLS, timeouts and
//! redaction as the API server's. Each command makes a constant number of
//! queries, aggregated by Prometheus (`sum by (...) (increase(...))`), never
//! one per row.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::{Method, Request};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::source::cluster::Cluster;
use crate::source::redact;
use crate::traffic::{Kind, Observed, Sample, Security, Since};

/// The Service the proxy path tries, by namespace: the root namespace, then
/// `istio-system` (Istio's Prometheus addon), then `monitoring`.
pub const SERVICE: &str = "prometheus";
pub const PORT: u16 = 9090;
const NAMESPACES: [&str; 2] = ["istio-system", "monitoring"];

/// At most this much of an answer is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The labels every query sums by.
const LABELS: &str = "destination_service_namespace, destination_service_name, \
                      destination_workload_namespace, destination_workload, \
                      source_workload_namespace, source_workload, connection_security_policy";

/// How to reach a Prometheus the user names.
#[derive(Debug, Clone, Default)]
pub struct UrlOptions {
    pub url: String,
    /// A file holding a bearer token.
    pub token_file: Option<PathBuf>,
    /// A file holding `USER:PASSWORD`.
    pub basic_auth_file: Option<PathBuf>,
    /// A PEM file of the CAs its certificate is checked against.
    pub ca_file: Option<PathBuf>,
}

/// Why traffic could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrometheusError {
    /// No Service `prometheus` in the namespaces the proxy path tries.
    #[error(
        "no Prometheus found: no Service {SERVICE} (port {PORT}) in {}; give its address with --prometheus URL",
        .tried.join(", ")
    )]
    NotFound { tried: Vec<String> },
    /// No usable answer.
    #[error("{0}")]
    Unavailable(String),
}

/// A Prometheus to query.
pub struct Prometheus {
    client: kube::Client,
    /// The path before `/api/v1/query`: empty for a URL (its own path is the
    /// client's base), the service proxy's path otherwise.
    base: String,
    /// Where it is, as messages name it (no credentials).
    pub shown: String,
    timeout: Duration,
    log: Option<fn(&str)>,
}

impl Prometheus {
    /// The Prometheus at a URL.
    pub fn at_url(
        options: &UrlOptions,
        timeout: Duration,
        log: Option<fn(&str)>,
    ) -> anyhow::Result<Prometheus> {
        let shown = redact::url(options.url.trim_end_matches('/'));
        let uri: http::Uri = options.url.parse().map_err(|e| {
            anyhow::anyhow!("--prometheus {shown:?} is no URL ({e}): give one like http://prometheus.example:9090")
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            anyhow::bail!("--prometheus {shown:?} is no http:// or https:// URL with a host");
        }
        let mut config = kube::Config::new(uri);
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.default_retry = false;
        if let Some(path) = &options.token_file {
            // Read once, its end of line trimmed (a header cannot hold one).
            let token = readable(path, "--prometheus-token-file")?;
            let token = token.trim();
            if token.is_empty() {
                anyhow::bail!("--prometheus-token-file {} is empty", path.display());
            }
            config.auth_info.token = Some(token.to_string().into());
        }
        if let Some(path) = &options.basic_auth_file {
            let text = readable(path, "--prometheus-basic-auth-file")?;
            let Some((user, password)) = text.trim_end_matches(['\n', '\r']).split_once(':') else {
                anyhow::bail!(
                    "--prometheus-basic-auth-file {}: expected one line USER:PASSWORD",
                    path.display()
                );
            };
            config.auth_info.username = Some(user.to_string());
            config.auth_info.password = Some(password.to_string().into());
        }
        if let Some(path) = &options.ca_file {
            readable(path, "--prometheus-ca-file")?;
            config.root_cert_file = Some(path.clone());
        }
        let client = kube::Client::try_from(config).map_err(|e| {
            anyhow::anyhow!("cannot set up a client for Prometheus at {shown}: {e}")
        })?;
        Ok(Prometheus {
            client,
            base: String::new(),
            shown,
            timeout,
            log,
        })
    }

    /// The Prometheus behind the API server's service proxy: the Service
    /// `prometheus` in the root namespace, else `istio-system`, else
    /// `monitoring` (one GET each until one is there).
    pub async fn discover(cluster: &Cluster, root: &str) -> Result<Prometheus, PrometheusError> {
        let mut tried = Vec::new();
        for ns in std::iter::once(root).chain(NAMESPACES) {
            if tried.iter().any(|t| t == ns) {
                continue;
            }
            tried.push(ns.to_string());
            match cluster.service_exists(ns, SERVICE).await {
                Ok(true) => {
                    return Ok(Prometheus {
                        client: cluster.client(),
                        base: format!("/api/v1/namespaces/{ns}/services/{SERVICE}:{PORT}/proxy"),
                        shown: format!(
                            "service {ns}/{SERVICE}:{PORT} (through the API server at {})",
                            cluster.server()
                        ),
                        timeout: cluster.timeout(),
                        log: cluster.request_log(),
                    });
                }
                Ok(false) => {}
                Err(e) => {
                    return Err(PrometheusError::Unavailable(format!(
                        "cannot look for Prometheus in namespace {ns}: {e}"
                    )));
                }
            }
        }
        Err(PrometheusError::NotFound { tried })
    }

    /// What every Service (of `namespace`, with one) received over `since`:
    /// two queries, requests and TCP connections, as the servers' proxies
    /// report them.
    pub async fn observed(
        &self,
        since: &Since,
        namespace: Option<&str>,
    ) -> Result<Observed, PrometheusError> {
        let mut samples = Vec::new();
        for (kind, metric) in [
            (Kind::Requests, "istio_requests_total"),
            (Kind::Connections, "istio_tcp_connections_opened_total"),
        ] {
            let filter = match namespace {
                Some(ns) => format!(
                    "reporter=\"destination\",destination_service_namespace=\"{}\"",
                    ns.replace('\\', "\\\\").replace('"', "\\\"")
                ),
                None => "reporter=\"destination\"".to_string(),
            };
            let query = format!(
                "sum by ({LABELS}) (increase({metric}{{{filter}}}[{}s]))",
                since.seconds
            );
            for (labels, value) in self.query(&query).await? {
                let label = |k: &str| labels.get(k).cloned().unwrap_or_else(|| "unknown".into());
                samples.push(Sample {
                    kind,
                    service_namespace: label("destination_service_namespace"),
                    service: label("destination_service_name"),
                    workload_namespace: label("destination_workload_namespace"),
                    workload: label("destination_workload"),
                    source_namespace: label("source_workload_namespace"),
                    source_workload: label("source_workload"),
                    security: Security::from_label(&label("connection_security_policy")),
                    count: value,
                });
            }
        }
        Ok(Observed::new(samples))
    }

    /// One instant query: each series' labels and value.
    pub async fn query(
        &self,
        promql: &str,
    ) -> Result<Vec<(BTreeMap<String, String>, f64)>, PrometheusError> {
        let path = format!(
            "{}/api/v1/query?query={}",
            self.base,
            utf8_percent_encode(promql, NON_ALPHANUMERIC)
        );
        let (status, body) = self.get(&path).await?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status != 200 || answer["status"] != "success" {
            // Prometheus says `error`; the API server's proxy, a Status `message`.
            let why = answer["error"]
                .as_str()
                .or(answer["message"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}, and no error in the answer"));
            return Err(self.unavailable(&format!("answered {status}: {why}")));
        }
        let Some(result) = answer["data"]["result"].as_array() else {
            return Err(self.unavailable("answered without data.result"));
        };
        result
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect();
                let value = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .ok_or_else(|| self.unavailable("answered a series without a value"))?;
                Ok((labels, value))
            })
            .collect()
    }

    fn unavailable(&self, what: &str) -> PrometheusError {
        PrometheusError::Unavailable(format!("Prometheus at {} {what}", self.shown))
    }

    async fn get(&self, path: &str) -> Result<(u16, Vec<u8>), PrometheusError> {
        let started = Instant::now();
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::empty())
            .map_err(|e| self.unavailable(&format!("cannot be asked: {e}")))?;
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self
                .client
                .send(request)
                .await
                .map_err(|e| self.unavailable(&format!("cannot be reached: {}", reason(&e))))?;
            let status = response.status().as_u16();
            let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES);
            let bytes = http_body_util::BodyExt::collect(limited)
                .await
                .map_err(|e| self.unavailable(&format!("sent an answer mtls cannot read: {e}")))?
                .to_bytes()
                .to_vec();
            Ok::<_, PrometheusError>((status, bytes))
        })
        .await;
        let outcome = match answer {
            Ok(Ok((status, bytes))) => {
                self.logged(path, &status.to_string(), started);
                return Ok((status, bytes));
            }
            Ok(Err(e)) => {
                self.logged(path, "error", started);
                e
            }
            Err(_) => {
                self.logged(path, "timeout", started);
                self.unavailable(&format!(
                    "did not answer within {}s (--request-timeout)",
                    self.timeout.as_secs()
                ))
            }
        };
        Err(outcome)
    }

    fn logged(&self, path: &str, status: &str, started: Instant) {
        if let Some(log) = self.log {
            // The query, not the whole encoded path: what a user can read.
            let shown = path
                .split_once("?query=")
                .map_or(path.to_string(), |(p, q)| {
                    let query = percent_encoding::percent_decode_str(q).decode_utf8_lossy();
                    format!("{p}?query={query}")
                });
            log(&format!(
                "GET {shown} {status} {}ms",
                started.elapsed().as_millis()
            ));
        }
    }
}

/// A client error's cause, without what kube-rs may quote of credentials.
fn reason(error: &kube::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    redact::url(&text)
}

fn readable(path: &std::path::Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {flag} {}: {e}", path.display()))
}
