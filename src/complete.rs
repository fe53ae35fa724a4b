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
use mtls::source::collect::Collector;
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

/// The words of the command line being completed, when they do not come
/// after `--` on mtls's own (kubectl's plugin completion passes them as
/// arguments).
static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The sources the command line being completed names (the words after `--`).
fn sources_of_command_line() -> Sources {
    let words: Vec<String> = match WORDS.get() {
        Some(words) => words.clone(),
        None => std::env::args().skip_while(|a| a != "--").skip(1).collect(),
    };
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

/// The contexts of the kubeconfig the command line names, for `--context`.
pub fn contexts() -> Vec<CompletionCandidate> {
    let sources = sources_of_command_line();
    mtls::source::cluster::kubeconfig_contexts(sources.cluster.kubeconfig.as_deref())
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
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
    let Some((ns, rest)) = current.split_once('/') else {
        return std::iter::once("mesh".to_string())
            .chain(snapshot.namespaces.keys().cloned())
            .collect();
    };
    if pods && let Some(typed) = rest.strip_prefix("pod/") {
        let in_ns = snapshot.pods.iter().filter(|p| p.id.namespace == ns);
        return match typed.split_once(':') {
            None => in_ns.map(|p| format!("{ns}/pod/{}", p.id.name)).collect(),
            Some((pod, _)) => in_ns
                .filter(|p| p.id.name == pod)
                .flat_map(|p| {
                    let ports = p.ports.iter().filter(|cp| !cp.proxy);
                    with_ports(
                        &format!("{ns}/pod/{pod}"),
                        ports.map(|cp| (cp.port, cp.name.as_deref())),
                    )
                })
                .collect(),
        };
    }
    match rest.split_once(':') {
        None => snapshot
            .services
            .iter()
            .filter(|s| s.id.namespace == ns)
            .map(|s| s.id.to_string())
            .chain(pods.then(|| format!("{ns}/pod/")))
            .collect(),
        Some((svc, _)) => snapshot
            .service(ns, svc)
            .into_iter()
            .flat_map(|s| {
                with_ports(
                    &format!("{ns}/{svc}"),
                    s.ports
                        .iter()
                        .map(|p| (u32::from(p.port), p.name.as_deref())),
                )
            })
            .collect(),
    }
}

/// `TARGET:NUMBER` and `TARGET:NAME` for each port.
fn with_ports<'n>(
    target: &str,
    ports: impl Iterator<Item = (u32, Option<&'n str>)>,
) -> Vec<String> {
    ports
        .flat_map(|(number, name)| {
            std::iter::once(format!("{target}:{number}"))
                .chain(name.map(|n| format!("{target}:{n}")))
        })
        .collect()
}

/// The cluster's objects at the depth `current` is typed to (namespaces, a
/// namespace's Services, or its pods), read into a snapshot for `names_in`.
fn from_cluster(options: &ConnectOptions, current: &str, pods: bool) -> Vec<String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let work = async {
        let cluster = Cluster::connect(options).await.ok()?;
        let (resource, namespace) = match current.split_once('/') {
            None => ("namespaces", None),
            Some((ns, rest)) if pods && rest.starts_with("pod/") => ("pods", Some(ns)),
            Some((ns, _)) => ("services", Some(ns)),
        };
        let mut collector = Collector::default();
        for object in cluster.list_core(resource, namespace).await.ok()? {
            collector.add(object, &"the server").ok()?;
        }
        let loaded = collector
            .finish(&LoadOptions {
                root_namespace: None,
                api: Api::Auto,
            })
            .ok()?;
        Some(names_in(&loaded.snapshot, current, pods))
    };
    runtime
        .block_on(async { tokio::time::timeout(TIMEOUT, work).await.ok().flatten() })
        .unwrap_or_default()
}

/// `kubectl_complete-mtls WORDS...`: kubectl's completion of the plugin
/// (`kubectl mtls <TAB>`). kubectl runs it with the words after `kubectl
/// mtls`, the last one being completed, and reads Cobra's format: a
/// candidate per line (a tab, then its help), then `:4` (no file names).
pub fn kubectl_plugin(args: &[std::ffi::OsString]) -> std::process::ExitCode {
    let words: Vec<String> = std::iter::once("mtls".to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect();
    let _ = WORDS.set(words.clone());
    let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
    let index = words.len().saturating_sub(1);
    let os: Vec<std::ffi::OsString> = words.iter().map(std::ffi::OsString::from).collect();
    let candidates = clap_complete::engine::complete(
        &mut command,
        os,
        index,
        std::env::current_dir().ok().as_deref(),
    )
    .unwrap_or_default();
    let mut out = String::new();
    for c in candidates.iter().filter(|c| !c.is_hide_set()) {
        out.push_str(&c.get_value().to_string_lossy());
        if let Some(help) = c.get_help() {
            out.push('\t');
            out.push_str(&help.to_string().replace(['\n', '\t'], " "));
        }
        out.push('\n');
    }
    out.push_str(":4\n");
    print!("{out}");
    std::process::ExitCode::SUCCESS
}
