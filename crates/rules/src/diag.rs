//! Errors in rules, as `path:line:col: message`, with Rhai's terser messages rewritten into
//! ones that say what to do.

use std::fmt;
use std::path::{Path, PathBuf};

use lookout_keeper::suggest::closest;
use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

/// A problem in a rule file, at a place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based; 0 when the problem is the whole file.
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// Outermost last: `in call to fn `ratio` at 4:9`.
    pub chain: Vec<String>,
    pub warning: bool,
}

impl Diagnostic {
    pub fn error(path: &Path, line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            path: path.to_path_buf(),
            line,
            col,
            message: message.into(),
            chain: Vec::new(),
            warning: false,
        }
    }

    pub fn warning(path: &Path, line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            warning: true,
            ..Diagnostic::error(path, line, col, message)
        }
    }

    /// rustc-style: the message, the place, the source line and a caret.
    pub fn render(&self, source: &str) -> String {
        let kind = if self.warning { "warning" } else { "error" };
        let mut out = format!("{kind}: {}\n  --> {}", self.message, self.location());
        if self.line > 0
            && let Some(text) = source.lines().nth(self.line - 1)
        {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            let caret_at: usize = text
                .chars()
                .take(self.col.saturating_sub(1))
                .map(|c| if c == '\t' { 4 } else { 1 })
                .sum();
            out += &format!(
                "\n{pad} |\n{num} | {}\n{pad} | {}^",
                text.replace('\t', "    "),
                " ".repeat(caret_at)
            );
        }
        for c in &self.chain {
            out += &format!("\n  = {c}");
        }
        out
    }

    fn location(&self) -> String {
        if self.line == 0 {
            self.path.display().to_string()
        } else {
            format!("{}:{}:{}", self.path.display(), self.line, self.col.max(1))
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        for c in &self.chain {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

fn at(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(1))
}

/// Functions a rule can call, for "did you mean".
fn known_functions() -> impl Iterator<Item = &'static str> {
    super::api::API_FUNCTIONS.iter().copied().chain([
        "print",
        "debug",
        "to_string",
        "to_int",
        "to_float",
        "round",
        "floor",
        "abs",
        "contains",
        "sub_string",
        "keys",
        "push",
        "sort",
        "type_of",
    ])
}

/// A parse error, said plainly.
pub fn from_parse(path: &Path, err: &ParseError) -> Diagnostic {
    let (line, col) = at(err.position());
    let message = match err.err_type() {
        ParseErrorType::VariableUndefined(name) => undefined_variable(name),
        ParseErrorType::AssignmentToConstant(name)
            if super::api::VARIABLES.contains(&name.as_str()) =>
        {
            format!("`{name}` is read-only: rules read the snapshot, they do not change it")
        }
        ParseErrorType::ExprTooDeep => {
            "expression nested too deeply; split it into smaller steps with `let`".to_string()
        }
        other => {
            let text = strip_position(&other.to_string());
            // Disabled keywords come through the lexer, named only in the text.
            if text.contains("'eval'") {
                "`eval` is not available in rules: a rule is the code in its file".to_string()
            } else if text.contains("'import'") {
                "`import` is not available in rules: a rule is one self-contained file".to_string()
            } else {
                text
            }
        }
    };
    Diagnostic::error(path, line, col, message)
}

fn undefined_variable(name: &str) -> String {
    let hint = closest(name, super::api::VARIABLES.iter().copied())
        .map(|v| format!("; did you mean `{v}`?"))
        .unwrap_or_else(|| {
            format!(
                "; a rule sees {} and its own `let`s",
                super::api::VARIABLES.join(", ")
            )
        });
    format!("unknown variable `{name}`{hint}")
}

/// Rhai's messages end in " (line L, position P)"; the diagnostic carries the place itself.
fn strip_position(s: &str) -> String {
    match s.find(" (line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// What stopped a rule at run time, said plainly, at the innermost place, with the chain of
/// calls that led there.
pub fn from_eval(path: &Path, err: &EvalAltResult, limits: &super::Limits) -> Diagnostic {
    let mut chain = Vec::new();
    let mut e = err;
    while let EvalAltResult::ErrorInFunctionCall(name, _src, inner, pos) = e {
        let (l, c) = at(*pos);
        chain.push(format!("in call to `{name}` at line {l}, column {c}"));
        e = inner;
    }
    chain.reverse();
    // A short chain: the outermost calls and the innermost ones.
    if chain.len() > 4 {
        let n = chain.len() - 4;
        chain.splice(2..chain.len() - 2, [format!("… {n} more calls …")]);
    }
    let (line, col) = at(e.position());
    let message = match e {
        EvalAltResult::ErrorRuntime(msg, _) => msg.to_string(),
        EvalAltResult::ErrorTerminated(..) => format!(
            "stopped: the rule ran past its {} ms deadline (an endless loop?)",
            limits.deadline.as_millis()
        ),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "stopped: the rule used more than {} operations (an endless loop?)",
            limits.max_operations
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "stopped: calls nested deeper than {} levels (endless recursion?)",
            super::engine::MAX_CALL_LEVELS
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "stopped: {} grew past the limit a rule may build; use the helpers (count_by, group_by, values) instead of growing it",
            what.to_lowercase()
        ),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => unknown_function(sig),
        EvalAltResult::ErrorVariableNotFound(name, _) => undefined_variable(name),
        EvalAltResult::ErrorPropertyNotFound(name, _) => {
            format!(
                "no property `{name}` here; rows read columns by statistic name (row.name, row[\"name\"])"
            )
        }
        EvalAltResult::ErrorAssignmentToConstant(name, _) => {
            format!("`{name}` is read-only: rules read the snapshot, they do not change it")
        }
        other => strip_position(&other.to_string()),
    };
    Diagnostic {
        chain,
        ..Diagnostic::error(path, line, col, message)
    }
}

/// "Function not found: alertt (&str | ImmutableString | String, …)" → "unknown function
/// `alertt`; did you mean `alert`?"
fn unknown_function(sig: &str) -> String {
    let name = sig.split([' ', '(']).next().unwrap_or(sig).trim();
    if known_functions().any(|f| f == name) {
        let args = sig
            .find('(')
            .map(|i| {
                sig[i..]
                    .replace("ImmutableString", "string")
                    .replace("&str | string | String", "string")
            })
            .unwrap_or_default();
        return format!(
            "`{name}` does not take these arguments {args}; see docs/rules.md for its forms"
        );
    }
    match closest(name, known_functions()) {
        Some(f) => format!("unknown function `{name}`; did you mean `{f}`?"),
        None => format!("unknown function `{name}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(closest("alertt", known_functions()), Some("alert"));
        assert_eq!(
            closest("agentz", ["agents", "totals"].into_iter()),
            Some("agents")
        );
        assert_eq!(closest("xyz", ["agents"].into_iter()), None);
        assert_eq!(
            unknown_function(
                "alertt (&str | ImmutableString | String, &str | ImmutableString | String)"
            ),
            "unknown function `alertt`; did you mean `alert`?"
        );
    }

    #[test]
    fn rendering_points_at_the_column() {
        let d = Diagnostic::error(Path::new("rules/x.rhai"), 2, 5, "boom");
        let r = d.render("let a = 1;\nlet b = c;\n");
        assert_eq!(
            r,
            "error: boom\n  --> rules/x.rhai:2:5\n  |\n2 | let b = c;\n  |     ^"
        );
        assert_eq!(d.to_string(), "rules/x.rhai:2:5: boom");
    }
}
