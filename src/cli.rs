//! The command line, as clap derive definitions. Help text comes from the doc
//! comments; nothing here does any work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::{ArgValueCandidates, ArgValueCompleter, CompletionCandidate};

use mtls::mode::Enforced;
use mtls::source::Api;
use mtls::traffic::Since;

/// Show and control Istio mutual TLS.
///
/// Answers "is this service really STRICT, and which policy says so?" for the mesh,
/// a namespace, a Service or one Service port, from the cluster or, with -f, from
/// manifests. Targets: `mesh`, `NAMESPACE` (or `NAMESPACE/`), `NAMESPACE/SERVICE`,
/// `NAMESPACE/SERVICE:PORT` (a Service port, by number or name); `get`, `check` and
/// `explain` also take `NAMESPACE/pod/NAME` and `NAMESPACE/pod/NAME:PORT` (a running
/// pod, and one of its ports by number or container port name).
#[derive(Debug, Parser)]
#[command(name = "mtls", version, max_term_width = 100, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

const EXAMPLES: &str = "\
Examples:
  mtls get -A -f examples/              # every port of a GitOps tree, offline
  mtls get prod/api:http -o json        # one port: mode and the deciding policy
  mtls require prod -f k8s/ > plan.yaml # what `require` would write, for kubectl apply

Exit codes: 0 done, 1 failed, 2 usage, 3 verdict (--expect, check, refused change).";

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Read objects from a file, a directory (recursively: *.yaml, *.yml, *.json)
    /// or `-` (stdin) instead of a cluster; repeatable. No cluster is contacted
    #[arg(short = 'f', long = "filename", value_name = "PATH", global = true)]
    pub filenames: Vec<PathBuf>,

    /// Output format: table, wide (more columns), json, yaml, name (the
    /// canonical target of each row, one per line), jsonpath=TEMPLATE (kubectl's
    /// template syntax over the JSON, e.g. jsonpath='{.items[*].target}'), dot
    /// (`explain`: the callers graph for Graphviz) or sarif (`check`: SARIF 2.1.0)
    #[arg(
        short,
        long,
        value_name = "FORMAT",
        default_value = "table",
        global = true,
        value_parser = parse_output,
        add = ArgValueCandidates::new(output_candidates)
    )]
    pub output: Output,

    /// The namespace of bare targets: `SVC`, `SVC:PORT` and `pod/NAME` mean
    /// NS/SVC, NS/SVC:PORT and NS/pod/NAME, as in kubectl; without targets, `get`,
    /// `check` and `traffic` show NS. The kubeconfig context's namespace is never
    /// used implicitly: a change must name where it writes
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        global = true,
        value_parser = parse_namespace,
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,

    /// `get`/`check`: everything — the mesh, every namespace, every Service port
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,

    /// The Istio root namespace (default: `rootNamespace` of the mesh config, else
    /// istio-system)
    #[arg(long, value_name = "NS", global = true, value_parser = parse_namespace)]
    pub root_namespace: Option<String>,

    /// Which Istio API to read and write; `auto` asks the server (offline: what the
    /// manifests contain)
    #[arg(long, value_enum, default_value_t = Api::Auto, global = true)]
    pub api: Api,

    /// Path to the kubeconfig file (also KUBECONFIG)
    #[arg(long, value_name = "PATH", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use. Repeat it for the clusters of one mesh
    /// (multi-primary, primary-remote): `get` and `check` read each at once,
    /// rows and findings gain a CLUSTER, and `check` compares the clusters; a
    /// change is gated in every cluster, then written to each
    #[arg(long, value_name = "NAME", global = true, action = clap::ArgAction::Append,
          add = ArgValueCandidates::new(crate::complete::contexts))]
    pub context: Vec<String>,

    /// Every context of the kubeconfig, as the clusters of one mesh
    #[arg(long, global = true, conflicts_with = "context")]
    pub all_contexts: bool,

    /// Seconds to wait for each API request
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub request_timeout: u64,

    /// Never color the output (also NO_COLOR; CLICOLOR_FORCE=1 colors a pipe)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Print fewer lines on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log each API request (method, path, status, time)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Prometheus with Istio's standard metrics, for `traffic`, `get --traffic`
    /// and the traffic check of changes: its URL, or `none` to leave traffic
    /// out. Without it, against a cluster: the Service prometheus:9090 in the
    /// root namespace, istio-system or monitoring, through the API server's
    /// service proxy (the kubeconfig's credentials, RBAC `get services/proxy`).
    /// Offline (-f), only a URL given here is used
    #[arg(
        long,
        value_name = "URL|none",
        env = "MTLS_PROMETHEUS_URL",
        global = true,
        help_heading = "Prometheus"
    )]
    pub prometheus: Option<String>,

    /// A file holding the bearer token for --prometheus URL (never printed)
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        help_heading = "Prometheus",
        requires = "prometheus"
    )]
    pub prometheus_token_file: Option<PathBuf>,

    /// A file holding USER:PASSWORD for --prometheus URL (never printed)
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        help_heading = "Prometheus",
        conflicts_with = "prometheus_token_file",
        requires = "prometheus"
    )]
    pub prometheus_basic_auth_file: Option<PathBuf>,

    /// A PEM file of the CAs that --prometheus URL's certificate is checked
    /// against
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        help_heading = "Prometheus",
        requires = "prometheus"
    )]
    pub prometheus_ca_file: Option<PathBuf>,
}

/// What `-o` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Table,
    /// The table with more columns.
    Wide,
    Json,
    Yaml,
    /// The canonical target of each row (or object), one per line.
    Name,
    /// kubectl's JSONPath template over the JSON document.
    Jsonpath(String),
    /// `explain` only: the graph of callers and ports for Graphviz (`dot -Tsvg`).
    Dot,
    /// `check` only: SARIF 2.1.0, for code-scanning UIs.
    Sarif,
}

fn parse_output(text: &str) -> Result<Output, String> {
    Ok(match text {
        "table" => Output::Table,
        "wide" => Output::Wide,
        "json" => Output::Json,
        "yaml" => Output::Yaml,
        "name" => Output::Name,
        "dot" => Output::Dot,
        "sarif" => Output::Sarif,
        "jsonpath" | "jsonpath=" => {
            return Err("jsonpath needs a template: -o jsonpath='{.items[*].target}'".into());
        }
        other => match other.strip_prefix("jsonpath=") {
            Some(template) => Output::Jsonpath(template.to_string()),
            None => {
                return Err(format!(
                    "{other:?} is no output format: use table, wide, json, yaml, name, jsonpath=TEMPLATE, dot or sarif"
                ));
            }
        },
    })
}

fn output_candidates() -> Vec<CompletionCandidate> {
    [
        "table",
        "wide",
        "json",
        "yaml",
        "name",
        "jsonpath=",
        "dot",
        "sarif",
    ]
    .into_iter()
    .map(CompletionCandidate::new)
    .collect()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the effective mode of targets, and the policy that decides it
    #[command(after_help = "\
Examples:
  mtls get -f k8s/                      # the mesh-wide mode
  mtls get -A -f k8s/ --expect STRICT   # CI gate: exit 3 unless every row is STRICT
  mtls get -A --expect-at-least PERMISSIVE   # CI gate: exit 3 where a row is DISABLE
  mtls get bookinfo/reviews -o wide     # the service and each of its ports
  mtls get prod/pod/api-7d4-x2k         # one pod as a whole, and each of its ports
  mtls get prod -w                      # then each row again as it changes")]
    Get(GetArgs),

    /// Set PERMISSIVE at exactly the target's level
    #[command(after_help = change_examples!("allow", "mesh"))]
    Allow(ChangeArgs),

    /// Set STRICT at exactly the target's level
    #[command(after_help = change_examples!("require", "prod"))]
    Require(ChangeArgs),

    /// Set DISABLE at exactly the target's level
    #[command(after_help = change_examples!("disable", "prod/legacy:8080"))]
    Disable(ChangeArgs),

    /// Remove the target level's setting, so that it inherits from the level above
    #[command(after_help = change_examples!("unset", "prod/legacy:8080"))]
    Unset(ChangeArgs),

    /// Report misconfigurations that break or weaken mTLS, with hints
    #[command(after_help = "\
Examples:
  mtls check -A                         # everything, errors exit 3
  mtls check -A -f k8s/ --fail-on warning   # CI gate on a GitOps tree
  mtls check prod/api -o json           # the findings about one service
  mtls check prod/pod/api-7d4-x2k       # the findings about the ports a pod serves")]
    Check(CheckArgs),

    /// Explain why a port has its mode: the policies at each level, pod group by
    /// pod group, what serves the pods, and what every caller sends
    #[command(after_help = "\
Examples:
  mtls explain prod/api:http            # one Service port, as a tree
  mtls explain prod/api:http --from web # what namespace web sends, and if it works
  mtls explain prod/api -o json         # every port of a Service, for tools
  mtls explain prod -f k8s/             # a line per Service port and pod group
  mtls explain prod/pod/api-7d4-x2k     # one pod: its chain, and each port's
  mtls explain prod/api:http -o dot | dot -Tsvg > calls.svg

For each Service port: the container port each pod resolves it to; for each group
of pods that resolve alike, every policy Istio considers at the mesh, namespace,
workload and port levels, which one decides and why the others do not (shadowed
by an older one, not selected, ignored in the root namespace, a port setting on a
policy without selector, undecodable), and the mode the pods enforce; for each
group of caller namespaces, the DestinationRule they use, what they send, and
whether the calls work. Callers whose workloads run without a proxy send
plaintext. A namespace, Service or `mesh` target prints one line per port and
pod group; `-o json` has the whole structure for every port.")]
    Explain(ExplainArgs),

    /// Show the traffic Services received, mTLS or plaintext, and who sends
    /// plaintext, from Prometheus
    #[command(after_help = "\
Examples:
  mtls traffic -A                       # every Service: calls, plaintext share, plaintext callers
  mtls traffic prod --since 7d -o wide  # one namespace over a week, by workload
  mtls traffic prod/api --expect-no-plaintext   # CI or cron gate: exit 3 on any plaintext

From Istio's standard metrics as the receiving proxy reports them (reporter
\"destination\"): istio_requests_total for HTTP and gRPC requests, and
istio_tcp_connections_opened_total for TCP connections (ztunnel reports it for
ambient workloads), split by connection_security_policy: mutual_tls, none
(plaintext), unknown. Callers outside the mesh show as unknown/unknown. The
metrics carry no port: a port target shows its Service's figures. Two queries,
summed by Prometheus, whatever the number of Services.")]
    Traffic(TrafficArgs),

    /// Print PeerAuthentications equivalent to the legacy authentication.istio.io
    /// policies, verified to keep every Service port's mode
    #[command(after_help = "\
Examples:
  mtls migrate -f legacy-tree/ > peerauthentications.yaml
  mtls migrate                          # against the cluster: print the plan
  mtls migrate --apply                  # ...and write it; then delete the legacy policies

Exit 3 when a Service port's mode cannot be kept exactly; the reasons are listed.")]
    Migrate(MigrateArgs),

    /// Print a shell completion script
    ///
    /// The script completes subcommands, flags and targets: namespaces, Services,
    /// ports and (for get, check and explain) pods from the cluster, or from the
    /// manifests of `-f`.
    #[command(after_help = "\
Examples:
  mtls completions bash > /etc/bash_completion.d/mtls
  mtls completions zsh > \"${fpath[1]}/_mtls\"
  echo 'mtls completions fish | source' >> ~/.config/fish/config.fish")]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },

    /// Write the man pages and completion scripts that are committed under
    /// docs/man and completions/ (for maintainers: built with `--features docs`)
    #[cfg(feature = "docs")]
    #[command(hide = true, name = "generate-docs")]
    GenerateDocs {
        /// The directory that gets docs/man/ and completions/
        dir: PathBuf,
    },
}

macro_rules! change_examples {
    ($verb:literal, $target:literal) => {
        concat!(
            "Examples:\n  mtls ",
            $verb,
            " ",
            $target,
            "\n  mtls ",
            $verb,
            " ",
            $target,
            " -f k8s/ > plan.yaml   # offline: print what would be written\n  mtls ",
            $verb,
            " ",
            $target,
            " --dry-run             # validate the change, write nothing\n  mtls ",
            $verb,
            " ",
            $target,
            " -f k8s/ --diff        # the edit --write would make in k8s/\n\n\
             A change writes PeerAuthentication objects: the policy Istio already uses at \
             that level, or a new one. It refuses (exit 3) when the result would not take \
             effect, naming the policy in the way, or when it would make calls fail that \
             work today (a client sending plaintext to a port that becomes STRICT, auto \
             mTLS reaching a port that becomes DISABLE), naming the calls and the fix; \
             --force writes anyway."
        )
    };
}
use change_examples;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Targets to show (default: mesh)
    #[arg(value_name = "TARGET", add = ArgValueCompleter::new(crate::complete::targets))]
    pub targets: Vec<String>,

    /// Exit 3 unless every listed row enforces this mode (any case: strict,
    /// STRICT). Rows are judged by what their pods enforce, not only declare:
    /// a STRICT port of pods without a sidecar is NONE. Rows without pods are
    /// judged by their declared mode; rows only gateways serve are not judged
    #[arg(long, value_name = "MODE", value_parser = enforced_parser(), ignore_case = true)]
    pub expect: Option<Enforced>,

    /// Exit 3 when a listed row enforces less than this mode (STRICT >
    /// PERMISSIVE > DISABLE > NONE); a MIXED row counts as its weakest pod
    #[arg(
        long,
        value_name = "MODE",
        value_parser = enforced_parser(),
        ignore_case = true,
        conflicts_with = "expect"
    )]
    pub expect_at_least: Option<Enforced>,

    /// Add the share of plaintext calls each row's Services received, from
    /// Prometheus (a row without calls shows `-`); a Prometheus that cannot
    /// be read is a warning, never a failure
    #[arg(long)]
    pub traffic: bool,

    /// With --traffic: how far back (24h, 90m, 7d, 1h30m)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "24h",
        requires = "traffic"
    )]
    pub since: Since,

    /// Keep watching: print the rows, then each row again when policies,
    /// Services, pods or EndpointSlices change it (rows that go are said on
    /// stderr). With -o json, one event per line: {"type": "ADDED",
    /// "MODIFIED" or "DELETED", "object": ROW}. Ctrl-C ends it (exit 0)
    #[arg(long, short = 'w')]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Targets to change
    #[arg(value_name = "TARGET", required = true, add = ArgValueCompleter::new(crate::complete::targets))]
    pub targets: Vec<String>,

    /// Write nothing; print the plan (against a cluster, validated by the server)
    #[arg(long)]
    pub dry_run: bool,

    /// Write even when the result would not take effect or would make calls
    /// fail (each failure is still reported, even with -q)
    #[arg(long)]
    pub force: bool,

    /// Do not ask before a change that makes mTLS weaker (asked only at a
    /// terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// How far back the traffic check looks for plaintext calls to what the
    /// change makes STRICT (24h, 90m, 7d, 1h30m)
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub since: Since,

    /// With -f: edit the manifests in place, where the policies live, and
    /// print the unified diff of what was written. Only the lines that change
    /// are touched; comments, order, indentation and quoting stay. Templates
    /// and generated files (Helm, `# Code generated`, kustomize output) are
    /// refused, naming the file
    #[arg(long, requires = "filenames", conflicts_with = "dry_run")]
    pub write: bool,

    /// With -f: print the unified diff --write would make, and write nothing
    #[arg(long, requires = "filenames", conflicts_with = "dry_run")]
    pub diff: bool,

    /// The file a new policy goes to (default: the file that holds its
    /// namespace's other policies, else NS/peerauthentication-NAME.yaml under
    /// the first -f directory)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub write_to: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Namespaces or Services to migrate (default: everything)
    #[arg(value_name = "TARGET", add = ArgValueCompleter::new(crate::complete::targets))]
    pub targets: Vec<String>,

    /// Write the PeerAuthentications to the cluster
    #[arg(long, conflicts_with = "filenames")]
    pub apply: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Targets to check (default: mesh)
    #[arg(value_name = "TARGET", add = ArgValueCompleter::new(crate::complete::targets))]
    pub targets: Vec<String>,

    /// Which severity makes the exit code 3
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Accept findings of these codes on purpose (MTLS005,MTLS008): they are
    /// listed as ignored in JSON and SARIF, and never fail the check. An object
    /// accepts its own with the annotation `mtls.istio.io/ignore: MTLS005`
    #[arg(long, value_name = "CODE", value_delimiter = ',', value_parser = parse_code)]
    pub ignore: Vec<String>,
}

fn parse_code(text: &str) -> Result<String, String> {
    let code = text.trim().to_uppercase();
    let digits = code.strip_prefix("MTLS").unwrap_or("");
    if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(format!(
            "{text:?} is no finding code: use codes like MTLS005"
        ))
    }
}

#[derive(Debug, Args)]
pub struct TrafficArgs {
    /// Namespaces, Services or Service ports (default: every Service)
    #[arg(value_name = "TARGET", add = ArgValueCompleter::new(crate::complete::targets))]
    pub targets: Vec<String>,

    /// How far back (24h, 90m, 7d, 1h30m)
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub since: Since,

    /// Exit 3 when any listed Service received plaintext (a CI or cron gate)
    #[arg(long)]
    pub expect_no_plaintext: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Service ports, Services, namespaces, `mesh` (every Service port) or pods
    #[arg(value_name = "TARGET", required_unless_present = "all_namespaces", add = ArgValueCompleter::new(crate::complete::targets))]
    pub targets: Vec<String>,

    /// Explain one caller only: a namespace, or a workload in it (a pod, or
    /// a Deployment or other pod template, by name), whose labels a
    /// DestinationRule's workloadSelector may select. Against a cluster, only
    /// its namespace and the DestinationRules it can use are read
    #[arg(long, value_name = "NS[/WORKLOAD]")]
    pub from: Option<String>,
}

/// The shells completion scripts are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

impl Shell {
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Powershell => "powershell",
            Shell::Elvish => "elvish",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
}

/// A mode on the command line: one of the names, in any case (with
/// `ignore_case`); help and completions list them.
fn enforced_parser() -> impl clap::builder::TypedValueParser<Value = Enforced> {
    use clap::builder::{PossibleValue, TypedValueParser};
    let values = Enforced::ALL.map(|mode| {
        PossibleValue::new(mode.as_str()).help(match mode {
            Enforced::Strict => "Only mTLS is accepted",
            Enforced::Permissive => "mTLS and plaintext are both accepted",
            Enforced::Disable => "Plaintext only: the sidecar accepts no mTLS",
            Enforced::None => "Nothing enforces mTLS: no proxy, a port not captured, UDP",
        })
    });
    clap::builder::PossibleValuesParser::new(values).try_map(|name: String| {
        name.to_ascii_uppercase()
            .parse::<Enforced>()
            .map_err(|e| e.to_string())
    })
}

fn parse_namespace(s: &str) -> Result<String, String> {
    mtls::target::check_label("namespace", s).map(|()| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
