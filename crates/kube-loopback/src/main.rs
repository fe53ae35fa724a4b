//! `kube-loopback`: run the loopback API server by hand, e.g. to try `mtls` or
//! `kubectl` against it.
//!
//! ```text
//! kube-loopback --seed examples/ --kubeconfig /tmp/loopback.yaml
//! KUBECONFIG=/tmp/loopback.yaml kubectl get pa -A
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kube_loopback::{ADMIN, Config, Server};

const USAGE: &str = "usage: kube-loopback [--seed PATH]... [--generate NAMESPACES,SERVICES,PODS[,SEED]] \
                     [--pods lean|realistic] [--kubeconfig PATH] [--name NAME] [--user NAME] [--enable GROUP/VERSION]... [--disable GROUP/VERSION]... \
                     [--log PATH]";

fn main() -> anyhow::Result<()> {
    let mut config = Config::default();
    let mut kubeconfig: Option<PathBuf> = None;
    let mut user = ADMIN.to_string();
    // The name of the kubeconfig's context, cluster and user entries.
    let mut name = "loopback".to_string();
    let mut log: Option<PathBuf> = None;
    let mut generated: Vec<String> = Vec::new();
    let mut shape = kube_loopback::PodShape::Lean;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--seed" => config.seed.extend(seed(Path::new(&value()?))?),
            "--generate" => generated.push(value()?),
            "--pods" => {
                shape = match value()?.as_str() {
                    "lean" => kube_loopback::PodShape::Lean,
                    "realistic" => kube_loopback::PodShape::Realistic,
                    other => bail!("--pods {other}: expected lean or realistic\n{USAGE}"),
                }
            }
            "--log" => log = Some(PathBuf::from(value()?)),
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value()?)),
            "--user" => user = value()?,
            "--name" => name = value()?,
            "--enable" => config.enable.push(value()?),
            "--disable" => config.disable.push(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    for spec in &generated {
        config.seed.extend(generate(spec, shape)?);
    }
    let server = Server::start(config)?;
    if let Some(path) = &kubeconfig {
        std::fs::write(path, server.kubeconfig_named(&user, &name))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("kubeconfig for {user} written to {}", path.display());
    }
    println!("{}", server.url());
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(path) = &log {
            append_log(&server, path)?;
        }
    }
}

/// The objects of the YAML or JSON files at `path` (a file, or a directory
/// walked in name order) that this server serves; others are skipped, saying so.
fn seed(path: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut objects = Vec::new();
    for file in yaml_files(path)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for object in
            kube_loopback::parse_objects(&text).with_context(|| file.display().to_string())?
        {
            if kube_loopback::knows(&object) {
                objects.push(object);
            } else {
                eprintln!(
                    "{}: skipping {} {}: this server does not serve that kind",
                    file.display(),
                    object["kind"].as_str().unwrap_or("?"),
                    object["metadata"]["name"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(objects)
}

/// A generated mesh from `NAMESPACES,SERVICES,PODS[,SEED]`, its pods of `shape`.
fn generate(spec: &str, shape: kube_loopback::PodShape) -> anyhow::Result<Vec<serde_json::Value>> {
    let expected = || format!("--generate {spec}: expected NAMESPACES,SERVICES,PODS[,SEED]");
    let numbers: Vec<usize> = spec
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()
        .with_context(expected)?;
    let [
        namespaces,
        services_per_namespace,
        pods_per_service,
        rest @ ..,
    ] = numbers.as_slice()
    else {
        bail!(expected());
    };
    Ok(kube_loopback::generate_mesh(kube_loopback::MeshSize {
        namespaces: *namespaces,
        services_per_namespace: *services_per_namespace,
        pods_per_service: *pods_per_service,
        seed: rest.first().copied().unwrap_or(1) as u64,
        shape,
    }))
}

/// Appends the requests served since the last call to the log at `path`:
/// method, path, status, response bytes, milliseconds.
fn append_log(server: &Server, path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let records = server.take_requests();
    if records.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    for r in records {
        writeln!(
            file,
            "{} {} {} {} {}",
            r.method, r.uri, r.status, r.bytes, r.millis
        )?;
    }
    Ok(())
}

fn yaml_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let p = entry.path();
        if p.is_dir() {
            files.extend(yaml_files(&p)?);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(p);
        }
    }
    Ok(files)
}
