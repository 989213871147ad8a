//! POSIX shell quoting: every remote command is one string that the login shell parses, so
//! every argument is quoted and nothing in it is ever interpreted.

/// Quotes `arg` for a POSIX shell (`sh`, `bash`, `dash`, `zsh`): the shell reads back exactly
/// `arg`, whatever it contains (`'`, `$(...)`, backquotes, globs, newlines, spaces).
///
/// Arguments made only of characters that no shell treats specially are left bare, so logs
/// stay readable; everything else is wrapped in single quotes, with each `'` written as `'\''`.
///
/// ```
/// use blazer_cluster::quote;
/// assert_eq!(quote("job-1.sh"), "job-1.sh");
/// assert_eq!(quote("it's"), r"'it'\''s'");
/// assert_eq!(quote("; rm -rf /"), "'; rm -rf /'");
/// ```
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str(r"'\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Joins `args` into one command line with every argument quoted by [`quote`].
pub fn command_line<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> String {
    args.into_iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of `line`: runs `printf '[%s]\n'` on it and returns the output.
    fn sh_args(line: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '[%s]\\n' {line}"))
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "sh failed on {line:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    const HOSTILE: &[&str] = &[
        "'; rm -rf /",
        "$(touch /tmp/blazer-quote-pwned)",
        "`touch /tmp/blazer-quote-pwned`",
        "a\nb; touch /tmp/blazer-quote-pwned",
        "it's",
        "''",
        "'",
        "\\'\\",
        "*",
        "~root",
        "$HOME ${PATH}",
        "a b\tc",
        "-n",
        "",
        "x && touch /tmp/blazer-quote-pwned || true",
        "ünïcødé ✓",
        "\"double\" and 'single'",
        "#comment",
        "a|b>c<d&e;f",
    ];

    #[test]
    fn plain_arguments_stay_bare() {
        assert_eq!(quote("sbatch"), "sbatch");
        assert_eq!(quote("--partition=debug"), "--partition=debug");
        assert_eq!(quote("/a/b-c_d.json"), "/a/b-c_d.json");
    }

    #[test]
    fn special_arguments_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("'; rm -rf /"), r"''\''; rm -rf /'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn the_shell_reads_back_every_hostile_argument_verbatim() {
        let _ = std::fs::remove_file("/tmp/blazer-quote-pwned");
        for arg in HOSTILE {
            assert_eq!(
                sh_args(&quote(arg)),
                format!("[{arg}]\n"),
                "argument {arg:?}"
            );
        }
        // All of them on one line: still one shell word each, in order.
        let expected: String = HOSTILE.iter().map(|a| format!("[{a}]\n")).collect();
        assert_eq!(sh_args(&command_line(HOSTILE)), expected);
        assert!(
            !std::path::Path::new("/tmp/blazer-quote-pwned").exists(),
            "a quoted argument was executed"
        );
    }
}
