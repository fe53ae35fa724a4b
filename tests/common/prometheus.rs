//! A real Prometheus for the tests, holding Istio-shaped samples: they are
//! written as OpenMetrics, turned into TSDB blocks by `promtool tsdb
//! create-blocks-from openmetrics`, and served by `prometheus` on a loopback
//! port until the value is dropped. Both come with Debian's `prometheus`
//! package, which `scripts/test.sh` installs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One counter series: a caller's calls to one workload of one Service,
/// growing by `per_minute` every minute from `from_hours_ago` to
/// `to_hours_ago`.
#[derive(Debug, Clone)]
pub struct Series {
    /// `istio_requests_total` or `istio_tcp_connections_opened_total`.
    pub metric: &'static str,
    /// `NS/SERVICE/WORKLOAD` received it.
    pub to: &'static str,
    /// `NS/WORKLOAD` sent it (`unknown/unknown`: outside the mesh).
    pub from: &'static str,
    /// `mutual_tls`, `none` or `unknown`.
    pub security: &'static str,
    pub per_minute: f64,
    pub from_hours_ago: f64,
    pub to_hours_ago: f64,
}

pub const REQUESTS: &str = "istio_requests_total";
pub const CONNECTIONS: &str = "istio_tcp_connections_opened_total";

/// A running Prometheus; stopped when dropped.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Prometheus serving `series`, ready for queries.
    pub fn start(series: &[Series]) -> Prometheus {
        for tool in ["prometheus", "promtool"] {
            assert!(
                Command::new(tool)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "the tests need `{tool}` (Debian's prometheus package; scripts/test.sh installs it)"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let samples = dir.path().join("samples.om");
        std::fs::write(&samples, openmetrics(series)).expect("write samples");
        let data = dir.path().join("data");
        let built = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&samples)
            .arg(&data)
            .output()
            .expect("promtool runs");
        assert!(
            built.status.success(),
            "promtool: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").expect("write config");
        // A free port, then Prometheus on it (a race with another process
        // taking it in between fails the start below, loudly).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=30d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            child,
            port,
            _dir: dir,
        };
        prometheus.wait_ready();
        prometheus
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if get(self.port, "/-/ready").is_some_and(|answer| answer.starts_with("HTTP/1.1 200")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log =
            std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default();
        panic!("prometheus did not get ready within 30s:\n{log}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET on loopback, the whole answer as text.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The samples as OpenMetrics text: one family per metric, each series'
/// points in time order, timestamps in seconds.
fn openmetrics(series: &[Series]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mut text = String::new();
    for metric in [REQUESTS, CONNECTIONS] {
        let family = metric.trim_end_matches("_total");
        text.push_str(&format!("# TYPE {family} counter\n"));
        for s in series.iter().filter(|s| s.metric == metric) {
            let to: Vec<&str> = s.to.split('/').collect();
            let from: Vec<&str> = s.from.split('/').collect();
            let labels = format!(
                "reporter=\"destination\",destination_service_namespace=\"{}\",destination_service_name=\"{}\",\
                 destination_workload_namespace=\"{}\",destination_workload=\"{}\",\
                 source_workload_namespace=\"{}\",source_workload=\"{}\",connection_security_policy=\"{}\"",
                to[0], to[1], to[0], to[2], from[0], from[1], s.security
            );
            let start = now - (s.from_hours_ago * 3600.0) as u64;
            let end = now - (s.to_hours_ago * 3600.0) as u64;
            let mut value = 0.0;
            let mut t = start;
            while t <= end {
                value += s.per_minute;
                text.push_str(&format!("{metric}{{{labels}}} {value} {t}\n"));
                t += 60;
            }
        }
    }
    text.push_str("# EOF\n");
    text
}

/// The Service and EndpointSlice through which the API server's proxy
/// reaches a Prometheus on loopback `port`, as YAML to seed a server with:
/// `NAMESPACE/prometheus:9090`.
pub fn service_yaml(namespace: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: prometheus, namespace: {namespace}}}\n\
         spec:\n  selector: {{app: prometheus}}\n  ports:\n  - {{name: http, port: 9090, targetPort: 9090}}\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: prometheus-1, namespace: {namespace}, labels: {{kubernetes.io/service-name: prometheus}}}}\n\
         addressType: IPv4\nports:\n- {{name: http, port: {port}, protocol: TCP}}\n\
         endpoints:\n- addresses: [127.0.0.1]\n  conditions: {{ready: true}}\n"
    )
}
