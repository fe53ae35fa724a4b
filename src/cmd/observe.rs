//! Reading traffic from Prometheus for a command: where it is (the flags, or
//! the cluster's service proxy), and what it answered — or why there is no
//! answer, which only `traffic` treats as a failure.

use mtls::source::prometheus::{Prometheus, UrlOptions};
use mtls::traffic::{Observed, Since};

use crate::cmd::{Session, connect_options};

/// What a command learnt of the traffic.
pub enum Traffic {
    Observed {
        observed: Observed,
        /// Where it came from, as messages name it.
        from: String,
    },
    /// Not asked for: `--prometheus none`, or offline without a URL.
    Off(&'static str),
    /// Asked for, but not to be had: why.
    Unavailable(String),
}

/// The traffic of the last `since` to the Services of `namespace` (all, with
/// `None`); `root` is the mesh's root namespace, where the service proxy
/// looks first. Flags that cannot work (a malformed URL, an unreadable token
/// file) are errors; a Prometheus that cannot be found or read is
/// [`Traffic::Unavailable`].
pub fn observe(
    session: &Session<'_>,
    since: &Since,
    namespace: Option<&str>,
    root: &str,
) -> anyhow::Result<Traffic> {
    let args = session.args;
    let options = connect_options(args);
    match args.prometheus.as_deref() {
        Some("none") => Ok(Traffic::Off("--prometheus none")),
        Some(url) => {
            let url = UrlOptions {
                url: url.to_string(),
                token_file: args.prometheus_token_file.clone(),
                basic_auth_file: args.prometheus_basic_auth_file.clone(),
                ca_file: args.prometheus_ca_file.clone(),
            };
            // Its own runtime: the client is made for this Prometheus alone.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let prometheus = Prometheus::at_url(&url, options.request_timeout, options.log)?;
                Ok(read(&prometheus, since, namespace).await)
            })
        }
        None if session.offline() => Ok(Traffic::Off("offline (-f) without --prometheus URL")),
        None => {
            let connection = session.connection()?;
            let cluster = connection.cluster();
            Ok(connection.block_on(async {
                match Prometheus::discover(cluster, root).await {
                    Ok(prometheus) => read(&prometheus, since, namespace).await,
                    Err(e) => Traffic::Unavailable(e.to_string()),
                }
            }))
        }
    }
}

/// What a Prometheus found answers, or why it does not.
async fn read(prometheus: &Prometheus, since: &Since, namespace: Option<&str>) -> Traffic {
    match prometheus.observed(since, namespace).await {
        Ok(observed) => Traffic::Observed {
            observed,
            from: format!("Prometheus at {}", prometheus.shown),
        },
        Err(e) => Traffic::Unavailable(e.to_string()),
    }
}
