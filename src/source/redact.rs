//! kube-rs errors, with what may hold a credential left out.
//!
//! Some of kube-rs's errors quote what they failed on: the lines of a
//! kubeconfig around a syntax error (next to its tokens and keys), all that a
//! failed credential plugin printed (a token, perhaps), the plugin's arguments
//! and environment (a client secret, perhaps), or the output of an
//! auth-provider command. `mtls` runs with cluster-admin credentials in CI logs,
//! so where an error holds such a part, its message is rebuilt from what is
//! safe to show: what failed, where, and what to do.

use std::error::Error;

use kube::client::AuthError;

use crate::source::plugin::{self, Plugin};

/// A message for `error` without the parts that may hold credentials, or
/// `None` when nothing in its chain quotes them. `plugin` is the credential
/// plugin, to name it.
pub fn message(error: &(dyn Error + 'static), plugin: Option<&Plugin>) -> Option<String> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(auth) = e.downcast_ref::<AuthError>() {
            return Some(auth_message(auth, plugin));
        }
        // Outside a credential plugin, the YAML kube-rs parses is the kubeconfig.
        if let Some(yaml) = yaml_error(e) {
            return Some(format!(
                "the kubeconfig is not valid YAML {}; its text is not shown, as it holds credentials",
                position(yaml)
            ));
        }
        cause = e.source();
    }
    None
}

/// A URL as it may be shown: a password in its user info is masked
/// (`https://admin:***@host`), as kubectl masks it.
pub fn url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// `context: reason`, with the reason from [`message`] when the error quotes
/// credentials, else the error itself as the cause.
pub fn context<E>(
    error: E,
    context: impl std::fmt::Display,
    plugin: Option<&Plugin>,
) -> anyhow::Error
where
    E: Error + Send + Sync + 'static,
{
    match message(&error, plugin) {
        Some(reason) => anyhow::Error::msg(reason).context(context.to_string()),
        None => anyhow::Error::new(error).context(context.to_string()),
    }
}

/// A YAML error, bare or as the kubeconfig's parse error, whose Display
/// quotes it though it is not its source.
fn yaml_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a serde_saphyr::Error> {
    if let Some(kube::config::KubeconfigError::Parse(yaml)) = error.downcast_ref() {
        return Some(yaml);
    }
    error.downcast_ref::<serde_saphyr::Error>().or_else(|| {
        error
            .downcast_ref::<Box<serde_saphyr::Error>>()
            .map(|boxed| &**boxed)
    })
}

/// Where a YAML error stands, never what stands there.
fn position(error: &serde_saphyr::Error) -> String {
    match error.location() {
        Some(at) if at.line() > 0 => format!("at line {}, column {}", at.line(), at.column()),
        _ => "(no position given)".to_string(),
    }
}

fn auth_message(error: &AuthError, bounded: Option<&Plugin>) -> String {
    let plugin = match bounded {
        Some(p) => format!("the credential plugin {}", p.command),
        None => "the credential plugin".to_string(),
    };
    let timeout = bounded.and_then(|p| p.timeout);
    let hidden = "mtls does not show what it printed, as that may hold credentials";
    match error {
        AuthError::AuthExecStart(e) => format!("cannot run {plugin}: {e}"),
        // The wrapper of a bounded plugin says how it ended by its exit code.
        AuthError::AuthExecRun { out, .. }
            if timeout.is_some() && out.status.code() == Some(plugin::EXIT_TIMED_OUT) =>
        {
            format!(
                "{plugin} did not answer within {} s (--request-timeout) and was stopped; \
                 run it to see why it hangs",
                timeout.map_or(0, |t| t.as_secs())
            )
        }
        AuthError::AuthExecRun { out, .. }
            if timeout.is_some() && out.status.code() == Some(plugin::EXIT_CANNOT_RUN) =>
        {
            format!("cannot run {plugin}: it is not there, or not executable")
        }
        AuthError::AuthExecRun { out, .. } => {
            format!(
                "{plugin} failed ({}); {hidden}: run it to see why",
                out.status
            )
        }
        AuthError::AuthExecParse(e) => format!(
            "{plugin} printed something that is not an ExecCredential ({}); {hidden}",
            position(e)
        ),
        AuthError::ExecPluginFailed => {
            format!("{plugin} printed an ExecCredential without a status")
        }
        AuthError::MalformedTokenExpirationDate(_) => {
            "the credential's expirationTimestamp is not a valid time".to_string()
        }
        AuthError::ReadTokenFile(e, path) => {
            format!("cannot read the token file {}: {e}", path.display())
        }
        AuthError::ExecMissingClusterInfo => {
            "the kubeconfig's exec plugin wants provideClusterInfo, but its context has no cluster"
                .to_string()
        }
        AuthError::MissingCommand => "the kubeconfig's exec plugin has no command".to_string(),
        AuthError::InvalidBearerToken(_) | AuthError::InvalidBasicAuth(_) => {
            "the kubeconfig's credentials are not valid in an HTTP header".to_string()
        }
        // The rest may quote an auth-provider's output or configuration.
        _ => "the kubeconfig's user cannot get credentials from its auth-provider; \
              mtls does not show why, as the reason may quote credentials: \
              `kubectl config view --minify` shows the user"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_urls_are_masked() {
        for (raw, shown) in [
            (
                "https://admin:secret@host:6443",
                "https://admin:***@host:6443",
            ),
            (
                "https://admin:s3@cr:et@host/path?q=1",
                "https://admin:***@host/path?q=1",
            ),
            ("https://admin@host", "https://admin@host"),
            ("https://host:6443/api", "https://host:6443/api"),
            ("https://host/p@th", "https://host/p@th"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(super::url(raw), shown, "{raw}");
        }
    }

    use super::*;

    const SECRET: &str = "SECRET-7f3a";

    #[test]
    fn kubeconfig_syntax_errors_keep_the_position_and_drop_the_text() {
        let text = format!("users:\n- name: u\n  user:\n    token: {SECRET}\n    bad: [\n");
        let error = kube::config::Kubeconfig::from_yaml(&text).expect_err("malformed");
        assert!(format!("{error}").contains(SECRET), "kube-rs quotes it");
        let message = message(&error, None).expect("rebuilt");
        assert_eq!(
            message,
            "the kubeconfig is not valid YAML at line 5, column 10; its text is not shown, as it \
             holds credentials"
        );
        let wrapped = context(error, "cannot read the kubeconfig k.yaml", None);
        assert!(!format!("{wrapped:#}").contains(SECRET));
        assert!(!format!("{wrapped:?}").contains(SECRET));
    }

    #[test]
    fn a_failed_plugin_is_named_and_its_output_left_out() {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("echo {SECRET}; echo {SECRET} >&2; exit 3")])
            .output()
            .expect("sh runs");
        let error = kube::Error::Auth(AuthError::AuthExecRun {
            cmd: format!("KUBERNETES_EXEC_INFO=... \"/bin/login\" \"--client-secret={SECRET}\""),
            out: Box::new(out),
        });
        assert!(format!("{error}").contains(SECRET), "kube-rs quotes it");
        assert_eq!(
            message(
                &error,
                Some(&Plugin {
                    command: "/bin/login".into(),
                    timeout: None,
                })
            )
            .expect("rebuilt"),
            "the credential plugin /bin/login failed (exit status: 3); mtls does not show what it \
             printed, as that may hold credentials: run it to see why"
        );
    }

    #[test]
    fn other_errors_keep_their_chain() {
        let error = std::io::Error::other("connection refused");
        assert_eq!(message(&error, None), None);
        let wrapped = context(error, "cannot reach the API server", None);
        assert_eq!(
            format!("{wrapped:#}"),
            "cannot reach the API server: connection refused"
        );
    }
}
