//! What may travel to the cluster at all. Quoting ([`crate::quote`]) keeps every value from
//! being interpreted on a command line, but not everywhere a value lands: a newline ends a
//! comment line of a batch script (so the rest would run), a NUL cuts a C string, a carriage
//! return rewrites what a log shows, and a host name that starts with `-` is an ssh option.
//!
//! So names and settings (job name, queue, account, batch-system arguments, user, host, work
//! directory, variable names) must be plain text; the values a program receives (its
//! arguments, environment values) travel quoted, where every character but NUL is safe and
//! arrives verbatim. Anything else is refused, with an error naming the setting, before
//! anything is sent.

use crate::error::{ClusterError, Result};

/// Refuses a `value` of the setting `what` that holds a control character (newline, carriage
/// return, NUL, tab, escape, DEL and the like).
pub(crate) fn plain_text(what: &str, value: &str) -> Result<()> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(ClusterError::Usage(format!(
            "{what} {value:?} holds the control character {c:?}: control characters cannot \
             travel safely in a batch script or a remote command line; remove it"
        ))),
    }
}

/// Refuses a `value` of `what` that holds NUL, which no command line or file name can carry.
/// Every other character travels quoted ([`crate::quote`]) and arrives verbatim.
pub(crate) fn no_nul(what: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(ClusterError::Usage(format!(
            "{what} {value:?} holds a NUL character, which no command line can carry; remove it"
        )));
    }
    Ok(())
}

/// Refuses an environment variable name that a POSIX shell cannot `export`.
pub(crate) fn variable_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Usage(format!(
            "{what} `{}` is not a valid environment variable name (letters, digits and `_`, \
             not starting with a digit)",
            name.escape_debug()
        )))
    }
}

/// Refuses a host name that ssh would read as an option, or that holds white space or control
/// characters.
pub(crate) fn host_name(host: &str) -> Result<()> {
    plain_text("the cluster's host", host)?;
    if host.is_empty() || host.starts_with('-') || host.chars().any(char::is_whitespace) {
        return Err(ClusterError::Usage(format!(
            "the cluster's host {host:?} is not a host name: it must not be empty, start with \
             `-` (ssh would read it as an option) or hold white space"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_naming_the_setting() {
        for bad in [
            "a\nb", "a\rb", "a\0b", "a\tb", "a\x1bb", "a\x7fb", "a\u{85}b",
        ] {
            let err = plain_text("the job's name", bad).unwrap_err().to_string();
            assert!(err.contains("the job's name"), "{err}");
        }
        for good in ["probe", "a b", "it's; $(rm -rf /) `x` * ? ~", "ünïcödé", ""] {
            assert!(plain_text("x", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn values_only_refuse_nul() {
        assert!(no_nul("an argument", "a\nb\r\tc").is_ok());
        assert!(no_nul("an argument", "a\0b")
            .unwrap_err()
            .to_string()
            .contains("an argument"));
    }

    #[test]
    fn variable_names_and_host_names() {
        assert!(variable_name("k", "OMP_NUM_THREADS").is_ok());
        for bad in ["", "1X", "A B", "A=B", "A\nB", "A-B"] {
            assert!(variable_name("k", bad).is_err(), "{bad:?}");
        }
        assert!(host_name("login.hpc.example.org").is_ok());
        for bad in ["", "-oProxyCommand=touch /tmp/x", "a b", "a\nb"] {
            assert!(host_name(bad).is_err(), "{bad:?}");
        }
    }
}
