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
    /// The command takes pod targets.
    pods: bool,
}

/// The commands whose targets may be pods.
const POD_COMMANDS: [&str; 3] = ["get", "check", "explain"];

/// Completes a TARGET: `mesh` and namespaces, `NS/` services, `NS/SVC:`
/// ports; for the commands that read pods (`get`, `check`, `explain`), also
/// `NS/pod/` pods and `NS/pod/NAME:` their container ports.
pub fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let sources = sources_of_command_line();
    let names = if sources.filenames.is_empty() {
        from_cluster(&sources.cluster, current, sources.pods)
    } else {
        from_manifests(&sources.filenames, current, sources.pods)
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
        pods: false,
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
            command if POD_COMMANDS.contains(&command) => sources.pods = true,
            _ => {}
        }
    }
    sources
}

fn from_manifests(filenames: &[PathBuf], current: &str, pods: bool) -> Vec<String> {
    let Ok(inputs) = manifests::find_inputs(filenames) else {
        return Vec::new();
    };
    let options = LoadOptions {
        root_namespace: None,
        api: Api::Auto,
    };
    match manifests::load(&inputs, &options) {
        Ok(loaded) => names_in(&loaded.snapshot, current, pods),
        Err(_) => Vec::new(),
    }
}

/// Targets the snapshot has, at the depth `current` is typed to.
fn names_in(snapshot: &Snapshot, current: &str, pods: bool) -> Vec<String> {
    match current.split_once('/') {
        None => std::iter::once("mesh".to_string())
            .chain(snapshot.namespaces.keys().cloned())
            .collect(),
        Some((ns, rest)) if pods && rest.starts_with("pod/") => {
            let in_ns = snapshot.pods.iter().filter(|p| p.id.namespace == ns);
            match rest.split_once(':') {
                None => in_ns.map(|p| format!("{ns}/pod/{}", p.id.name)).collect(),
                Some((pod, _)) => in_ns
                    .filter(|p| format!("pod/{}", p.id.name) == pod)
                    .flat_map(|p| {
                        let name = &p.id.name;
                        p.ports.iter().filter(|cp| !cp.proxy).flat_map(move |cp| {
                            std::iter::once(format!("{ns}/pod/{name}:{}", cp.port))
                                .chain(cp.name.iter().map(move |n| format!("{ns}/pod/{name}:{n}")))
                        })
                    })
                    .collect(),
            }
        }
        Some((ns, rest)) => match rest.split_once(':') {
            None => snapshot
                .services
                .iter()
                .filter(|s| s.id.namespace == ns)
                .map(|s| s.id.to_string())
                .chain(
                    (pods && snapshot.pods.iter().any(|p| p.id.namespace == ns))
                        .then(|| format!("{ns}/pod/")),
                )
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

fn from_cluster(options: &ConnectOptions, current: &str, pods: bool) -> Vec<String> {
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
            Some((ns, rest)) if pods && rest.starts_with("pod/") => {
                let listed = cluster.list_core("pods", Some(ns)).await.ok()?;
                let typed = rest.split_once(':').map(|(pod, _)| &pod["pod/".len()..]);
                let mut names = Vec::new();
                for p in &listed {
                    let name = p["metadata"]["name"].as_str().unwrap_or_default();
                    match typed {
                        None => names.push(format!("{ns}/pod/{name}")),
                        Some(pod) if pod == name => {
                            let containers =
                                p["spec"]["containers"].as_array().into_iter().flatten();
                            for c in containers.filter(|c| c["name"] != "istio-proxy") {
                                for port in c["ports"].as_array().into_iter().flatten() {
                                    if let Some(number) = port["containerPort"].as_u64() {
                                        names.push(format!("{ns}/pod/{name}:{number}"));
                                    }
                                    if let Some(port_name) = port["name"].as_str() {
                                        names.push(format!("{ns}/pod/{name}:{port_name}"));
                                    }
                                }
                            }
                        }
                        Some(_) => {}
                    }
                }
                names
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
                if pods && svc_filter.is_none() {
                    names.push(format!("{ns}/pod/"));
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
