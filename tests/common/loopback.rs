//! A loopback API server for a test, with a kubeconfig for one of its users
//! in a directory of the test's own.

use std::path::PathBuf;

use kube_loopback::{ADMIN, Config, Server};

pub struct Loopback {
    pub server: Server,
    /// A kubeconfig for the user asked for (`ADMIN` unless said).
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Loopback {
    /// A server as `config` says, and the admin's kubeconfig.
    pub fn start(config: Config) -> Loopback {
        Loopback::start_as(config, ADMIN)
    }

    /// A server holding the objects of `yaml`.
    pub fn seeded(yaml: &str) -> Loopback {
        Loopback::start(Config::default().seed_yaml(yaml).expect("seed"))
    }

    /// A server as `config` says, and `user`'s kubeconfig.
    pub fn start_as(config: Config, user: &str) -> Loopback {
        let server = Server::start(config).expect("server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("config");
        server
            .write_kubeconfig(&kubeconfig, user)
            .expect("kubeconfig");
        Loopback {
            server,
            kubeconfig,
            dir,
        }
    }
}
