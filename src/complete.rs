//! Shell completion. The scripts `mtls completions SHELL` prints call back into
//! `mtls` (clap_complete's dynamic completion, `COMPLETE=SHELL mtls -- WORDS`), so
//! flags and subcommands complete from the same definition as `--help`, and
//! targets complete from what is there: the manifests of the command line's `-f`,
//! else the cluster of its kubeconfig and context. Completion is best effort: it
//! gives up silently, within two seconds, when nothing answers.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap_complete::CompletionCandidate;

use mtls::policy::Snapshot;
use mtls::source::Api;
use mtls::source::cluster::{Cluster, ConnectOptions};
use mtls::source::manifests::{self, LoadOptions};

/// How long completion may wait for a cluster.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What completion reads: the command line's manifests, else its cluster.
struct Sources {
    filenames: Vec<PathBuf>,
    cluster: ConnectOptions,
}

/// Completes a TARGET: `mesh` and namespaces, `NS/` services, `NS/SVC:` ports.
pub fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let sources = sources_of_command_line();
    let names = if sources.filenames.is_empty() {
        from_cluster(&sources.cluster, current)
    } else {
        from_manifests(&sources.filenames, current)
    };
    names
        .into_iter()
        .filter(|n| n.starts_with(current))
        .map(CompletionCandidate::new)
        .collect()
}

/// The sources the command line being completed names (the words after `--`).
fn sources_of_command_line() -> Sources {
    let words: Vec<String> = std::env::args().skip_while(|a| a != "--").skip(1).collect();
    let mut sources = Sources {
        filenames: Vec::new(),
        cluster: ConnectOptions {
            kubeconfig: None,
            context: None,
            request_timeout: TIMEOUT,
            log: None,
            api: Api::Auto,
        },
    };
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| words.next().cloned());
        match flag {
            "-f" | "--filename" => sources.filenames.extend(value().map(PathBuf::from)),
            "--kubeconfig" => sources.cluster.kubeconfig = value().map(PathBuf::from),
            "--context" => sources.cluster.context = value(),
            _ => {}
        }
    }
    sources
}

fn from_manifests(filenames: &[PathBuf], current: &str) -> Vec<String> {
    let Ok(inputs) = manifests::find_inputs(filenames) else {
        return Vec::new();
    };
    let options = LoadOptions {
        root_namespace: None,
        api: Api::Auto,
    };
    match manifests::load(&inputs, &options) {
        Ok(loaded) => names_in(&loaded.snapshot, current),
        Err(_) => Vec::new(),
    }
}

/// Targets the snapshot has, at the depth `current` is typed to.
fn names_in(snapshot: &Snapshot, current: &str) -> Vec<String> {
    match current.split_once('/') {
        None => std::iter::once("mesh".to_string())
            .chain(snapshot.namespaces.keys().cloned())
            .collect(),
        Some((ns, rest)) => match rest.split_once(':') {
            None => snapshot
                .services
                .iter()
                .filter(|s| s.id.namespace == ns)
                .map(|s| s.id.to_string())
                .collect(),
            Some((svc, _)) => snapshot
                .service(ns, svc)
                .into_iter()
                .flat_map(|s| {
                    s.ports.iter().flat_map(move |p| {
                        std::iter::once(format!("{ns}/{svc}:{}", p.port))
                            .chain(p.name.iter().map(move |n| format!("{ns}/{svc}:{n}")))
                    })
                })
                .collect(),
        },
    }
}

fn from_cluster(options: &ConnectOptions, current: &str) -> Vec<String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let work = async {
        let cluster = Cluster::connect(options).await.ok()?;
        let names = match current.split_once('/') {
            None => {
                let namespaces = cluster.list_core("namespaces", None).await.ok()?;
                std::iter::once("mesh".to_string())
                    .chain(
                        namespaces
                            .iter()
                            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string)),
                    )
                    .collect()
            }
            Some((ns, rest)) => {
                let services = cluster.list_core("services", Some(ns)).await.ok()?;
                let svc_filter = rest.split_once(':').map(|(svc, _)| svc);
                let mut names = Vec::new();
                for s in &services {
                    let name = s["metadata"]["name"].as_str().unwrap_or_default();
                    match svc_filter {
                        None => names.push(format!("{ns}/{name}")),
                        Some(svc) if svc == name => {
                            for p in s["spec"]["ports"].as_array().into_iter().flatten() {
                                if let Some(port) = p["port"].as_u64() {
                                    names.push(format!("{ns}/{name}:{port}"));
                                }
                                if let Some(port_name) = p["name"].as_str() {
                                    names.push(format!("{ns}/{name}:{port_name}"));
                                }
                            }
                        }
                        Some(_) => {}
                    }
                }
                names
            }
        };
        Some(names)
    };
    runtime
        .block_on(async { tokio::time::timeout(TIMEOUT, work).await.ok().flatten() })
        .unwrap_or_default()
}
