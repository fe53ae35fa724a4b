//! One module per subcommand: glue between the parsed command line, a snapshot
//! source, the pure core and the renderers. The shared pieces live here: the
//! checked form of the global flags (`Session`) and the output streams.

pub mod change;
pub mod check;
pub mod explain;
pub mod get;
pub mod interrupt;
pub mod migrate;
pub mod observe;
pub mod traffic;
pub mod watch;
pub mod write;

use std::cell::{Cell, OnceCell};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use colored::Colorize;

use crate::cli::{GlobalArgs, Output};
use crate::error::UsageError;
use mtls::policy::Snapshot;
use mtls::policy::resolve::Row;
use mtls::render;
use mtls::source::cluster::{Clients, ConnectOptions, Notice, Scope};
use mtls::source::connection::Connection;
use mtls::source::manifests::{self, LoadOptions, Loaded};
use mtls::target::Target;

/// The global flags, checked and resolved, the output streams, and the
/// connection to the cluster once one is needed.
pub struct Session<'a> {
    pub args: &'a GlobalArgs,
    /// Colors on stdout: no --no-color, and the environment allows them
    /// (NO_COLOR, CLICOLOR_FORCE, CLICOLOR, TERM, a terminal).
    pub color: bool,
    /// stdout is a terminal: tables fit its width.
    pub terminal: bool,
    connection: OnceCell<Connection>,
    /// Warnings about the objects are printed on the first read only.
    warned: Cell<bool>,
    /// The context of this session's cluster, when a command works on
    /// several clusters, one session each: its rows carry it.
    pub cluster: Option<String>,
}

impl<'a> Session<'a> {
    pub fn new(args: &'a GlobalArgs) -> Session<'a> {
        // anstream decides as clap does: NO_COLOR, CLICOLOR_FORCE, CLICOLOR,
        // TERM=dumb, and whether the stream is a terminal.
        use anstream::{AutoStream, ColorChoice};
        let allowed = |choice: ColorChoice| !args.no_color && choice != ColorChoice::Never;
        colored::control::set_override(allowed(AutoStream::choice(&std::io::stderr())));
        Session {
            args,
            color: allowed(AutoStream::choice(&std::io::stdout())),
            terminal: std::io::stdout().is_terminal(),
            connection: OnceCell::new(),
            warned: Cell::new(false),
            cluster: None,
        }
    }

    /// The cluster, connected on first use.
    pub fn connection(&self) -> anyhow::Result<&Connection> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        if self.args.context.len() > 1 || self.args.all_contexts {
            return Err(UsageError(
                "only get and check read several clusters: give this command one --context".into(),
            )
            .into());
        }
        let connection = Connection::open(&connect_options(self.args))?;
        for notice in connection.cluster().notices.take() {
            match notice {
                Notice::Warning(text) => self.warn(&text),
                Notice::Security(text) => self.alert(&text),
            }
        }
        Ok(self.connection.get_or_init(|| connection))
    }

    /// Offline: objects come from `-f` manifests.
    pub fn offline(&self) -> bool {
        !self.args.filenames.is_empty()
    }

    /// Reads the snapshot that `scope` needs (offline: every manifest), printing
    /// the warnings its objects deserve.
    pub fn snapshot(&self, scope: &Scope) -> anyhow::Result<Snapshot> {
        self.read(scope, &Clients::None)
    }

    /// Like [`Session::snapshot`], with what decides the clients' side too:
    /// DestinationRules, and legacy policies where they are served.
    pub fn snapshot_with_clients(&self, scope: &Scope) -> anyhow::Result<Snapshot> {
        self.read(scope, &Clients::All)
    }

    /// Like [`Session::snapshot`], with one caller's side (`--from`).
    pub fn snapshot_with_caller(&self, scope: &Scope, caller: Clients) -> anyhow::Result<Snapshot> {
        self.read(scope, &caller)
    }

    fn read(&self, scope: &Scope, clients: &Clients) -> anyhow::Result<Snapshot> {
        if !self.offline() {
            let connection = self.connection()?;
            let root = self.args.root_namespace.as_deref();
            let spinner = mtls::progress::Spinner::start(
                connection.cluster().status.clone(),
                !self.args.quiet,
            );
            let loaded = connection.snapshot(scope, root, clients);
            drop(spinner);
            let loaded = loaded?;
            if !self.warned.replace(true) {
                for warning in &loaded.warnings {
                    self.warn(warning);
                }
            }
            return Ok(loaded.snapshot);
        }
        let inputs = manifests::find_inputs(&self.args.filenames)?;
        let loaded = manifests::load(
            &inputs,
            &LoadOptions {
                root_namespace: self.args.root_namespace.as_deref(),
                api: self.args.api,
            },
        )?;
        if loaded.objects == 0 {
            let paths: Vec<String> = self
                .args
                .filenames
                .iter()
                .map(|p| match p.to_str() {
                    Some("-") => "<stdin>".to_string(),
                    _ => p.display().to_string(),
                })
                .collect();
            anyhow::bail!(
                "no Kubernetes objects found in {}\n\
                 mtls reads PeerAuthentications, Services, Pods, workloads, Namespaces, \
                 DestinationRules and the mesh config",
                paths.join(", ")
            );
        }
        if let Some(root) = &self.args.root_namespace
            && !loaded.root_seen
        {
            return Err(mtls::source::root_not_found(
                root,
                "the manifests hold no Namespace and no object in it",
            ));
        }
        for warning in &loaded.warnings {
            self.warn(warning);
        }
        Ok(loaded.snapshot)
    }

    /// The contexts of the clusters a command reads when it reads several
    /// (`--context` more than once, `--all-contexts`); `None` for one.
    pub fn clusters(&self) -> anyhow::Result<Option<Vec<String>>> {
        let contexts = if self.args.all_contexts {
            mtls::source::cluster::kubeconfig_contexts(self.args.kubeconfig.as_deref())?
        } else {
            self.args.context.clone()
        };
        if contexts.len() < 2 && !self.args.all_contexts {
            return Ok(None);
        }
        if self.offline() {
            return Err(UsageError(
                "-f reads manifests, not clusters: drop --context or -f".into(),
            )
            .into());
        }
        if contexts.is_empty() {
            anyhow::bail!("--all-contexts: the kubeconfig has no context");
        }
        Ok(Some(contexts))
    }

    /// Reads what `scope` needs from each of several clusters at once, each
    /// with its own connection; the snapshots come in the order of
    /// `contexts`. One that cannot be read fails the command: a mesh seen in
    /// part would mislead.
    pub fn read_clusters(
        &self,
        contexts: &[String],
        scope: &Scope,
        clients: &Clients,
    ) -> anyhow::Result<Vec<(String, Snapshot)>> {
        let root = self.args.root_namespace.as_deref();
        let read: Vec<anyhow::Result<(Loaded, Vec<Notice>)>> = std::thread::scope(|threads| {
            let handles: Vec<_> = contexts
                .iter()
                .map(|context| {
                    let mut options = connect_options(self.args);
                    options.context = Some(context.clone());
                    threads.spawn(move || {
                        let connection = Connection::open(&options)?;
                        let notices = connection.cluster().notices.take();
                        let loaded = connection.snapshot(scope, root, clients)?;
                        anyhow::Ok((loaded, notices))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("the read stopped unexpectedly")))
                })
                .collect()
        });
        let mut snapshots = Vec::new();
        for (context, read) in contexts.iter().zip(read) {
            let (loaded, notices) = read
                .map_err(|e| e.context(format!("cannot read the cluster of context {context}")))?;
            for notice in notices {
                match notice {
                    Notice::Warning(text) => self.warn(&format!("{context}: {text}")),
                    Notice::Security(text) => self.alert(&format!("{context}: {text}")),
                }
            }
            for warning in &loaded.warnings {
                self.warn(&format!("{context}: {warning}"));
            }
            snapshots.push((context.clone(), loaded.snapshot));
        }
        Ok(snapshots)
    }

    pub fn warn(&self, message: &str) {
        if !self.args.quiet {
            self.alert(message);
        }
    }

    /// A warning that `--quiet` does not silence: mTLS gets weaker, or a change
    /// will not take effect. A script that asked for fewer lines still hears it.
    pub fn alert(&self, message: &str) {
        eprintln!(
            "{} {}{}",
            "warning:".yellow().bold(),
            self.of_cluster(),
            render::printable(message)
        );
    }

    /// A line for the user on stderr, left out with --quiet.
    pub fn note(&self, message: &str) {
        if !self.args.quiet {
            eprintln!("{}{}", self.of_cluster(), render::printable(message));
        }
    }

    /// `CLUSTER: ` before what is said, when a command works on several.
    fn of_cluster(&self) -> String {
        self.cluster
            .as_ref()
            .map_or(String::new(), |c| format!("{}: ", render::printable(c)))
    }

    /// Rows in the chosen format.
    pub fn format_rows(&self, rows: &[Row], color: bool) -> anyhow::Result<String> {
        match &self.cluster {
            // One of several clusters a change writes: its rows say which.
            Some(cluster) => {
                let rows: Vec<Row> = rows
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.cluster = Some(cluster.clone());
                        r
                    })
                    .collect();
                self.format_rows_with(&rows, color, &Default::default())
            }
            None => self.format_rows_with(rows, color, &Default::default()),
        }
    }

    /// Prints rows in the chosen format, as [`Session::format_rows_with`]
    /// makes them; JSON is written as it is made, never held whole (at
    /// 40,000 pods the document is some 17 MB).
    pub fn print_rows_with(
        &self,
        rows: &[Row],
        color: bool,
        findings: &std::collections::BTreeMap<String, Vec<&str>>,
    ) -> anyhow::Result<()> {
        if self.args.output == Output::Json {
            return print_json(&render::RowList { items: rows });
        }
        print_stdout(&self.format_rows_with(rows, color, findings)?)
    }

    /// Rows in the chosen format, the wide table marking rows with findings.
    pub fn format_rows_with(
        &self,
        rows: &[Row],
        color: bool,
        findings: &std::collections::BTreeMap<String, Vec<&str>>,
    ) -> anyhow::Result<String> {
        let list = render::RowList { items: rows };
        let names: Vec<String> = rows.iter().map(|r| r.target.clone()).collect();
        if let Some(text) = self.document(&list, &names)? {
            return Ok(text);
        }
        let wide = self.args.output == Output::Wide;
        let text = render::table::rows(
            rows,
            &render::table::Style {
                wide,
                color,
                width: self.width(),
            },
            findings,
        );
        if wide && !text.lines().next().is_some_and(|h| h.contains("ENFORCED")) {
            self.note(&format!(
                "the wide table is wider than {} columns (the terminal, or COLUMNS): \
                 the default columns are shown; -o json has every field",
                self.width().unwrap_or_default()
            ));
        }
        Ok(text)
    }

    /// The width tables fit: `COLUMNS` where it is set, else the terminal's
    /// where stdout is one; `None` (any width) in a pipe.
    pub fn width(&self) -> Option<usize> {
        if let Some(columns) = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|c| *c > 0)
        {
            return Some(columns);
        }
        self.terminal
            .then(|| comfy_table::Table::new().width())
            .flatten()
            .map(usize::from)
    }

    /// `doc` in the formats that need no table — json, yaml, `name` (one of
    /// `names` per line), jsonpath — or `None` for the table formats, which
    /// each command draws itself (`-o dot` is refused before any command runs
    /// but `explain`). A jsonpath template that cannot be read is a usage error.
    pub fn document<T: serde::Serialize>(
        &self,
        doc: &T,
        names: &[String],
    ) -> anyhow::Result<Option<String>> {
        Ok(Some(match &self.args.output {
            Output::Json => render::json(doc),
            Output::Yaml => render::yaml(doc)?,
            Output::Name => names.iter().map(|n| format!("{n}\n")).collect(),
            Output::Jsonpath(template) => {
                let value = serde_json::to_value(doc)?;
                render::jsonpath::render(template, &value).map_err(UsageError)?
            }
            Output::Table | Output::Wide | Output::Dot | Output::Sarif => return Ok(None),
        }))
    }
}

/// `-v`: one line on stderr for each request.
fn log_request(line: &str) {
    eprintln!("{line}");
}

/// Names joined with commas, or `none`: what a report of a change that
/// stopped part way says was written, and what was not.
pub fn listed(names: impl IntoIterator<Item = String>) -> String {
    let names: Vec<String> = names.into_iter().collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// How to reach the cluster, from the global flags.
pub fn connect_options(args: &GlobalArgs) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.first().cloned(),
        request_timeout: std::time::Duration::from_secs(args.request_timeout),
        log: args.verbose.then_some(log_request as fn(&str)),
        api: args.api,
    }
}

/// Parses the targets of a command; a bad one is a usage error (exit 2).
/// With `-n NS`, bare targets are in NS, as in kubectl: `SVC`, `SVC:PORT` and
/// `pod/NAME` mean `NS/SVC`, `NS/SVC:PORT` and `NS/pod/NAME`; `mesh` and
/// targets with a namespace (`OTHER/SVC`, `OTHER/`) stay as they are.
pub fn parse_targets(raw: &[String], namespace: Option<&str>) -> Result<Vec<Target>, UsageError> {
    raw.iter()
        .map(|t| {
            let relative = match namespace {
                Some(ns) if t != "mesh" && (!t.contains('/') || t.starts_with("pod/")) => {
                    format!("{ns}/{t}")
                }
                _ => t.clone(),
            };
            relative
                .parse::<Target>()
                .map_err(|e| UsageError(e.to_string()))
        })
        .collect()
}

/// What a command without targets shows: the namespace of `-n`, else `mesh`.
pub fn default_target(namespace: Option<&str>) -> Target {
    match namespace {
        Some(ns) => Target::Namespace(ns.to_string()),
        None => Target::Mesh,
    }
}

/// Parses the targets of a command that writes: pods are read, not set
/// (usage error, exit 2), since a pod's mode follows its Service's policies.
pub fn parse_change_targets(
    raw: &[String],
    namespace: Option<&str>,
    command: &str,
) -> Result<Vec<Target>, UsageError> {
    let targets = parse_targets(raw, namespace)?;
    if let Some(pod) = targets.iter().find(|t| matches!(t, Target::Pod { .. })) {
        return Err(UsageError(format!(
            "{pod}: `mtls {command}` changes the mesh, a namespace, a Service or a Service port, not a pod \
             (its mode follows the policies of its Service); `mtls get {pod}` and `mtls explain {pod}` show it"
        )));
    }
    Ok(targets)
}

/// The least that must be read for all of `targets`.
pub fn scope_of(targets: &[Target], all: bool) -> Scope {
    if all {
        return Scope::All;
    }
    let mut scope: Option<Scope> = None;
    for target in targets {
        let this = match target {
            Target::Mesh => Scope::Mesh,
            Target::Namespace(ns) => Scope::Namespace(ns.clone()),
            Target::Service { namespace, service }
            | Target::Port {
                namespace, service, ..
            } => Scope::Service {
                namespace: namespace.clone(),
                name: service.clone(),
            },
            Target::Pod { namespace, pod, .. } => Scope::Pod {
                namespace: namespace.clone(),
                name: pod.clone(),
            },
        };
        scope = Some(match (scope, this) {
            (None, this) => this,
            (Some(Scope::Mesh), this) | (Some(this), Scope::Mesh) => this,
            (Some(a), b) if a == b => a,
            // Two targets in one namespace read that namespace.
            (Some(a), b) if a.namespace().is_some() && a.namespace() == b.namespace() => {
                Scope::Namespace(a.namespace().unwrap_or_default().to_string())
            }
            _ => Scope::All,
        });
    }
    scope.unwrap_or(Scope::Mesh)
}

/// Sorts rows as the contract says and drops repeats (targets may overlap).
/// One port number may be two rows, TCP and UDP: the port name, unique in a
/// Service, keeps them apart.
pub fn sort_rows(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| (a.sort_key(), &a.port_name).cmp(&(b.sort_key(), &b.port_name)));
    rows.dedup_by(|a, b| {
        a.target == b.target
            && a.scope == b.scope
            && a.port_name == b.port_name
            && a.cluster == b.cluster
    });
    rows
}

/// Set once stdout turned out to be a closed pipe: later output is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout turned out to be a closed pipe: nobody reads what follows.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes `value` to stdout as indented JSON and a newline, as it is
/// serialized; a closed pipe as [`print_stdout`] takes it.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        result => Ok(result?),
    }
}

/// Writes to stdout. A closed pipe (`mtls get | head -1`) is not a failure, and
/// it must not cut the command short either: the verdict that follows the
/// output (`--expect`, `check`'s findings, a change that did not hold) still
/// chooses the exit code. So the rest of the output is dropped and the command
/// goes on.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        result => Ok(result?),
    }
}
