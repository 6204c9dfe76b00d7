//! Files a shell command writes, when that is knowable from its text: output redirections
//! (`> f`, `>> f`), `tee`, in-place editors (`sed -i`, `perl -i`), and `cp`/`mv`/`rm`/`touch`.
//!
//! Deliberately conservative: a path with `$`, globs, command substitution or `/dev/` is not a
//! knowable path and is dropped. A wrong "touched" path would rank a conversation above the one
//! that really wrote the file, which is worse than missing the evidence.

/// The script a shell argv runs: `bash -lc "<script>"` → the script; otherwise the argv joined.
fn script_of(argv: &[String]) -> String {
    match argv {
        [shell, flag, script, ..]
            if (shell.ends_with("sh") || shell.ends_with("bash") || shell.ends_with("zsh"))
                && flag.starts_with('-')
                && flag.contains('c') =>
        {
            script.clone()
        }
        _ => argv.join(" "),
    }
}

/// Splits a script into simple commands (on `;`, `&&`, `||`, `|`, newlines) and each command into
/// words, honouring single and double quotes. Heredoc bodies are skipped.
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let mut heredoc: Option<String> = None;
    let mut pending_heredoc: Option<String> = None;
    let flush_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        if let Some(end) = &heredoc {
            // Skip lines until the terminator line.
            let mut line = String::from(c);
            for d in chars.by_ref() {
                if d == '\n' {
                    break;
                }
                line.push(d);
            }
            if line.trim() == end {
                heredoc = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                    word.push(d);
                }
            }
            '\\' => {
                if let Some(d) = chars.next() {
                    word.push(d);
                    in_word = true;
                }
            }
            ' ' | '\t' => flush_word(&mut word, &mut in_word, &mut words),
            '\n' | ';' | '|' | '&' => {
                flush_word(&mut word, &mut in_word, &mut words);
                if !words.is_empty() {
                    out.push(std::mem::take(&mut words));
                }
                if c == '\n' {
                    heredoc = pending_heredoc.take();
                }
            }
            '<' if chars.peek() == Some(&'<') => {
                flush_word(&mut word, &mut in_word, &mut words);
                chars.next();
                if chars.peek() == Some(&'-') {
                    chars.next();
                }
                let mut tag = String::new();
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
                while let Some(&d) = chars.peek() {
                    if d.is_whitespace() || d == ';' {
                        break;
                    }
                    chars.next();
                    if d != '\'' && d != '"' {
                        tag.push(d);
                    }
                }
                pending_heredoc = Some(tag);
            }
            '>' => {
                flush_word(&mut word, &mut in_word, &mut words);
                let mut op = String::from(">");
                if chars.peek() == Some(&'>') {
                    chars.next();
                    op.push('>');
                }
                if chars.peek() == Some(&'&') {
                    // `>&2`, `2>&1`: a descriptor, not a file.
                    chars.next();
                    op.push('&');
                }
                words.push(op);
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush_word(&mut word, &mut in_word, &mut words);
    if !words.is_empty() {
        out.push(words);
    }
    out
}

fn knowable(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('-')
        && !path.starts_with("/dev/")
        && !path.starts_with("/proc/")
        && !path.contains(['$', '*', '?', '`', '(', ')', '{', '}', '[', ']', '~'])
        && !path.bytes().all(|b| b.is_ascii_digit())
}

/// Paths (as written) that a shell argv writes, in order, de-duplicated.
pub(crate) fn shell_writes(argv: &[String]) -> Vec<String> {
    let script = script_of(argv);
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        if knowable(p) && !out.iter().any(|o| o == p) {
            out.push(p.to_owned());
        }
    };
    for words in commands(&script) {
        // Redirections anywhere in the command.
        for pair in words.windows(2) {
            if (pair[0] == ">" || pair[0] == ">>") && !pair[1].starts_with('&') {
                add(&pair[1]);
            }
        }
        let plain: Vec<&str> = {
            let mut v = Vec::new();
            let mut skip = false;
            for w in &words {
                if skip {
                    skip = false;
                    continue;
                }
                if w == ">" || w == ">>" {
                    skip = true;
                    continue;
                }
                if w.starts_with('>') {
                    continue;
                }
                v.push(w.as_str());
            }
            v
        };
        let Some((&cmd, args)) = plain.split_first() else { continue };
        let cmd = cmd.rsplit('/').next().unwrap_or(cmd);
        let operands: Vec<&str> = args.iter().copied().filter(|a| !a.starts_with('-')).collect();
        match cmd {
            "tee" | "touch" | "rm" => operands.iter().for_each(|p| add(p)),
            "cp" | "install" | "ln" => {
                if let Some(dest) = operands.last() {
                    add(dest);
                }
            }
            "mv" => operands.iter().for_each(|p| add(p)),
            "sed" | "perl" if args.iter().any(|a| a.starts_with("-i") || a.starts_with("-pi")) => {
                // Without -e the first operand is the script; with -e the scripts follow each -e.
                let mut files = Vec::new();
                let mut script_seen = args.contains(&"-e");
                let mut skip_next = false;
                for a in args {
                    if std::mem::take(&mut skip_next) {
                        continue;
                    }
                    if *a == "-e" {
                        skip_next = true;
                    } else if !a.starts_with('-') {
                        if script_seen {
                            files.push(*a);
                        }
                        script_seen = true;
                    }
                }
                files.iter().for_each(|p| add(p));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(script: &str) -> Vec<String> {
        shell_writes(&["bash".into(), "-lc".into(), script.into()])
    }

    #[test]
    fn redirections_tee_and_in_place_edits() {
        assert_eq!(w("echo hi > hello.txt && cat a >> logs/out.log"), vec!["hello.txt", "logs/out.log"]);
        assert_eq!(w("make 2>&1 | tee build.log"), vec!["build.log"]);
        assert_eq!(w("sed -i 's/a/b/' src/main.rs README.md"), vec!["src/main.rs", "README.md"]);
        assert_eq!(w("sed -i -e 's/a/b/' -e 's/c/d/' x.py"), vec!["x.py"]);
        assert_eq!(w("perl -pi -e 's/x/y/' a.txt"), vec!["a.txt"]);
        assert_eq!(
            w("cp a.txt b.txt; mv old.rs new.rs; rm -f gone.md; touch t"),
            vec!["b.txt", "old.rs", "new.rs", "gone.md", "t"]
        );
    }

    #[test]
    fn heredocs_quotes_and_unknowable_paths() {
        assert_eq!(w("cat > 'my file.txt' <<'EOF'\n> not a redirect\nEOF\necho x > y"), vec!["my file.txt", "y"]);
        assert_eq!(w("echo $X > $OUT; echo > /dev/null; ls *.rs > list-$(date).txt"), Vec::<String>::new());
        assert_eq!(w("rg -n clap src"), Vec::<String>::new());
        assert_eq!(shell_writes(&["touch".into(), "a".into(), "b".into()]), vec!["a", "b"]);
    }
}
