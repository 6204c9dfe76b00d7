//! Text that Codex injects into user-role messages but that the human never typed, recognised
//! the way Codex itself recognises it (core `context/contextual_user_message.rs`: the registered
//! contextual fragments, the hook-prompt fragment, the legacy warnings), kept in one documented
//! place.
//!
//! Two sources of truth, in order:
//! 1. `internal_chat_message_metadata_passthrough.content_item_kinds` (Codex 0.14x+): one kind
//!    per content part; only `user.text` / `user.image` parts are the human's ([`human_kind`]).
//! 2. Without kinds, the text of each part ([`is_injected`]): a part that is a known fragment
//!    (tags matched case-insensitively, with or without attributes, like Codex's
//!    `matches_text`), or a whole `<name …>…</name>` block whose tag looks like a harness tag
//!    (contains `_`). A message with ANY injected part is not a user message.
//!
//! Image and audio labels (`<image name=[Image #1]>`, `</image>`, `<local_audio …>`) wrap an
//! attachment the human did add: they are dropped as text but do not make the message injected.

/// Fragments recognised by their opening marker (after leading whitespace, ASCII case ignored).
/// Each is a Codex contextual fragment (or its legacy form) written into user-role messages.
const OPENERS: [&str; 20] = [
    "<environment_context",               // EnvironmentContext / EnvironmentsState
    "<user_instructions>",                // UserInstructions (legacy)
    "# agents.md instructions",           // UserInstructions ("# AGENTS.md instructions for <dir>")
    "<instructions>",                     // the body of the AGENTS.md block on its own
    "<permissions instructions>",         // permissions (older spelling)
    "<permissions_instructions>",         // ArtificialMessage::Permission
    "<user_shell_command>",               // UserShellCommand
    "<user_shell_cmd>",                   // ArtificialMessage user shell command tag
    "<turn_aborted>",                     // TurnAborted
    "<subagent_notification>",            // SubagentNotification
    "<agent_message_board_notification>", // AgentMessageBoardNotification
    "<codex_internal_context",            // InternalModelContextFragment (`source="goal"` etc.)
    "<goal_context>",                     // GoalContext / LegacyGoalContext
    "<extension_context>",                // ExtensionContext
    "<external_",                         // AdditionalContextUserFragment (`<external_<key>>`)
    "<hook_prompt",                       // hook prompt fragment (`hook_run_id="…"`)
    "<hook_context>",                     // HookAdditionalContext
    "<recommended_plugins>",              // RecommendedPluginsInstructions
    "<collaboration_mode>",               // collaboration mode instructions
    "<personality_spec>",                 // personality spec
];

/// Plain-text fragments (no tag) recognised by their start: the legacy plugin recommendation and
/// the legacy warnings Codex no longer writes but still filters from old sessions.
const PLAIN_PREFIXES: [&str; 4] = [
    "Here is a list of plugins that are available but not installed.",
    "Warning: The maximum number of unified exec processes you can keep open is",
    "Warning: Your account was flagged for potentially high-risk cyber activity",
    "Warning: apply_patch was requested via ",
];

/// Whether a text part is Codex-injected context (not the human's words).
pub(crate) fn is_injected(text: &str) -> bool {
    let t = text.trim();
    starts_with_ci(t, OPENERS.as_slice())
        || is_skill(t)
        || is_warning_block(t)
        || PLAIN_PREFIXES.iter().any(|p| t.starts_with(p))
        || is_harness_block(t)
}

fn starts_with_ci(t: &str, openers: &[&str]) -> bool {
    openers.iter().any(|o| t.get(..o.len()).is_some_and(|head| head.eq_ignore_ascii_case(o)))
}

/// `<skill>…</skill>` or `<skill name="…">…</skill>` (the selected-skill instructions).
fn is_skill(t: &str) -> bool {
    let Some(rest) = t.get(..6).filter(|h| h.eq_ignore_ascii_case("<skill")).and_then(|_| t.get(6..)) else {
        return false;
    };
    (rest.starts_with('>') || rest.starts_with(char::is_whitespace)) && ends_with_ci(t, "</skill>")
}

/// `<warning>…</warning>`: Codex's model warning (ArtificialMessage::ModelWarning, user role).
fn is_warning_block(t: &str) -> bool {
    starts_with_ci(t, &["<warning>"]) && ends_with_ci(t, "</warning>")
}

fn ends_with_ci(t: &str, suffix: &str) -> bool {
    t.len() >= suffix.len() && t.get(t.len() - suffix.len()..).is_some_and(|s| s.eq_ignore_ascii_case(suffix))
}

/// `<name …>…</name>` spanning the whole (trimmed) text, with a harness-looking name (contains
/// `_`, or is two words like `permissions instructions`), attributes allowed. Plain HTML-ish
/// tags a human might type (`<div>`, `<b class="x">`) do not match.
fn is_harness_block(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('<') else { return false };
    let Some(close) = rest.find('>') else { return false };
    let open = rest.get(..close).unwrap_or("");
    let name_end = open.find(|c: char| c.is_whitespace()).unwrap_or(open.len());
    let name = open.get(..name_end).unwrap_or("");
    let attrs = open.get(name_end..).unwrap_or("").trim();
    let plain_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    if !plain_name {
        return false;
    }
    // `<permissions instructions>` (two bare words) or `<name attr="…">`.
    let two_words = !attrs.is_empty() && attrs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let closing = if two_words { format!("</{open}>") } else { format!("</{name}>") };
    // Attributes alone do not make a harness tag (`<div class="x">` is HTML a human may paste).
    let harness = name.contains('_') || two_words;
    harness && ends_with_ci(t, &closing)
}

/// `content_item_kinds` entry of a part the human typed or attached.
pub(crate) fn human_kind(kind: &str) -> bool {
    matches!(kind, "user.text" | "user.image")
}

/// The `<cwd>…</cwd>` of an `<environment_context>` block.
pub(crate) fn env_cwd(text: &str) -> Option<String> {
    let t = text.trim_start();
    if !starts_with_ci(t, &["<environment_context"]) {
        return None;
    }
    let start = t.find("<cwd>")? + "<cwd>".len();
    let tail = t.get(start..)?;
    let end = tail.find("</cwd>")?;
    let cwd = tail.get(..end)?.trim();
    (!cwd.is_empty()).then(|| cwd.to_owned())
}

/// The labels wrapping an attached image or audio clip: `<image name=[Image #1]>`, `<image>`,
/// `</image>`, `<audio …>`, `<local_audio …>` and their closings.
pub(crate) fn is_media_label(text: &str) -> bool {
    let t = text.trim();
    if t.len() > 512 || t.contains('\n') || !t.ends_with('>') {
        return false;
    }
    let inner = t.trim_start_matches('<').trim_start_matches('/');
    ["image", "audio", "local_image", "local_audio"].iter().any(|tag| {
        inner.get(..tag.len()).is_some_and(|h| h.eq_ignore_ascii_case(tag))
            && inner.get(tag.len()..).is_some_and(|r| r.starts_with('>') || r.starts_with(char::is_whitespace))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_fragments_are_injected() {
        for t in [
            "<environment_context>\n<cwd>/x</cwd>\n</environment_context>",
            "  <user_instructions>\nbe nice\n</user_instructions>",
            "<permissions instructions>…</permissions instructions>",
            "# AGENTS.md instructions for /repo\n\n<INSTRUCTIONS>x</INSTRUCTIONS>",
            "# agents.md INSTRUCTIONS for /repo",
            "<user_shell_command>ls</user_shell_command>",
            "<turn_aborted>user interrupted</turn_aborted>",
            "<subagent_notification>{}</subagent_notification>",
            "<some_new_block>\nstuff\n</some_new_block>",
            "<codex_internal_context source=\"goal\">\nKeep going\n</codex_internal_context>",
            "<CODEX_INTERNAL_CONTEXT source=\"memory_v2\">x</codex_internal_context>",
            "<goal_context>\nship it\n</goal_context>",
            "<skill>\n<name>demo</name>\n<path>skills/demo/SKILL.md</path>\nbody\n</skill>",
            "<skill name=\"demo\">body</skill>",
            "<hook_prompt hook_run_id=\"run-1\">Run the linter first</hook_prompt>",
            "<hook_context>extra</hook_context>",
            "<external_jira>ticket</external_jira>",
            "<extension_context>\nx\n</extension_context>",
            "<recommended_plugins>\nHere is a list\n</recommended_plugins>",
            "<agent_message_board_notification>\nNew post\n</agent_message_board_notification>",
            "<warning>be careful</warning>",
            "<tool_result call=\"1\">x</tool_result>",
            "Here is a list of plugins that are available but not installed. If the user's query…",
            "Warning: The maximum number of unified exec processes you can keep open is 8.",
            "Warning: Your account was flagged for potentially high-risk cyber activity…",
            "Warning: apply_patch was requested via exec_command. Use the apply_patch tool instead of exec_command.",
        ] {
            assert!(is_injected(t), "{t}");
        }
    }

    #[test]
    fn what_a_human_types_is_not_injected() {
        for t in [
            "add a --verbose flag",
            "<div>hi</div>",
            "<div class=\"note\">pasted html</div>",
            "<b>bold</b> please",
            "use <some_tag> here",
            "<skills> are great</skills> and so on",
            "Warning: this is my own note",
            "<image> of a cat, please",
            "skill issue",
        ] {
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
    fn media_labels() {
        for t in ["<image name=[Image #1]>", "<image>", "</image>", "<local_audio path=\"a.wav\">", "</audio>"] {
            assert!(is_media_label(t), "{t}");
        }
        for t in ["pasted image", "<images>", "<image>\nmulti\n</image>"] {
            assert!(!is_media_label(t), "{t}");
        }
    }

    #[test]
    fn only_user_text_and_image_kinds_are_human() {
        assert!(human_kind("user.text") && human_kind("user.image"));
        for k in [
            "agents_md.instructions",
            "environments.environment_context",
            "skills.selected_skill_instructions",
            "user.heartbeat",
            "",
        ] {
            assert!(!human_kind(k), "{k}");
        }
    }
}
