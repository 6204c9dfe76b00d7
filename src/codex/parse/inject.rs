//! Harness-injected context that Codex writes as user-role messages but that the human never
//! typed: environment context, AGENTS.md / user instructions, permission blocks, shell-command
//! echoes, abort and subagent notices. Kept apart so the list is in one documented place.
//!
//! A text part is injected when (after leading whitespace) it starts with one of [`PREFIXES`], or
//! when the whole part is a single `<tag>…</tag>` block whose tag name looks like a harness tag
//! (contains `_` or a space, e.g. `<collaboration_mode>`, `<skill instructions>`): plain HTML-ish
//! tags a human might type (`<div>`, `<b>`) do not match.

/// Known injected-context openers (matched after leading whitespace).
const PREFIXES: [&str; 11] = [
    "<environment_context>",
    "<user_instructions>",
    "<permissions instructions>",
    "# AGENTS.md instructions",
    "<INSTRUCTIONS>",
    "<user_shell_command>",
    "<turn_aborted>",
    "<subagent_notification>",
    "<developer_instructions>",
    "<collaboration_mode>",
    "<personality_spec>",
];

pub(crate) fn is_injected(text: &str) -> bool {
    let t = text.trim();
    PREFIXES.iter().any(|p| t.starts_with(p)) || is_harness_block(t)
}

/// `<name>…</name>` spanning the whole (trimmed) text, with a harness-looking name.
fn is_harness_block(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('<') else { return false };
    let Some(close) = rest.find('>') else { return false };
    let name = rest.get(..close).unwrap_or("");
    let harness_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == '-')
        && (name.contains('_') || name.contains(' '));
    harness_name && t.ends_with(&format!("</{name}>"))
}

/// The `<cwd>…</cwd>` of an `<environment_context>` block.
pub(crate) fn env_cwd(text: &str) -> Option<String> {
    let t = text.trim_start();
    if !t.starts_with("<environment_context>") {
        return None;
    }
    let start = t.find("<cwd>")? + "<cwd>".len();
    let tail = t.get(start..)?;
    let end = tail.find("</cwd>")?;
    let cwd = tail.get(..end)?.trim();
    (!cwd.is_empty()).then(|| cwd.to_owned())
}

/// The `<image name=[Image #1]>` / `<image>` / `</image>` text parts wrapping an attached image.
pub(crate) fn is_image_wrapper(text: &str) -> bool {
    let t = text.trim();
    t == "</image>" || (t.starts_with("<image") && t.ends_with('>') && t.len() <= 256 && !t.contains('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_prefixes_and_harness_blocks_are_injected() {
        for t in [
            "<environment_context>\n<cwd>/x</cwd>\n</environment_context>",
            "  <user_instructions>\nbe nice\n</user_instructions>",
            "<permissions instructions>…</permissions instructions>",
            "# AGENTS.md instructions for /repo\n\n<INSTRUCTIONS>x</INSTRUCTIONS>",
            "<user_shell_command>ls</user_shell_command>",
            "<turn_aborted>user interrupted</turn_aborted>",
            "<subagent_notification>{}</subagent_notification>",
            "<some_new_block>\nstuff\n</some_new_block>",
        ] {
            assert!(is_injected(t), "{t}");
        }
        for t in ["add a --verbose flag", "<div>hi</div>", "<b>bold</b> please", "use <some_tag> here"] {
            assert!(!is_injected(t), "{t}");
        }
    }

    #[test]
    fn cwd_from_environment_context() {
        let t = "<environment_context>\n  <cwd>/home/dev/proj</cwd>\n  <shell>bash</shell>\n</environment_context>";
        assert_eq!(env_cwd(t).as_deref(), Some("/home/dev/proj"));
        assert_eq!(env_cwd("<environment_context><shell>x</shell></environment_context>"), None);
        assert_eq!(env_cwd("<cwd>/x</cwd>"), None);
    }

    #[test]
    fn image_wrappers() {
        assert!(is_image_wrapper("<image name=[Image #1]>"));
        assert!(is_image_wrapper("<image>"));
        assert!(is_image_wrapper("</image>"));
        assert!(!is_image_wrapper("pasted image"));
    }
}
