//! The Rhai engine, shut tight: no modules, no `eval`, no blocking `sleep`, no output to
//! stdout, limits on everything that can grow, and a wall-clock deadline per run.

use std::time::Instant;

use rhai::{Dynamic, Engine, module_resolvers::DummyModuleResolver};

use super::Limits;
use super::api;

pub(crate) const MAX_CALL_LEVELS: usize = 32;

/// Check the deadline this often (in operations). Reading the clock every 256 operations costs
/// nothing measurable and stops a loop of heavy helper calls within a few ms of its deadline.
const CLOCK_EVERY: u64 = 256;

pub(crate) fn build(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_module_resolver(DummyModuleResolver::new())
        .set_max_modules(0)
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(api::MAX_STRING)
        .set_max_array_size(50_000)
        .set_max_map_size(50_000)
        .set_max_variables(1_000)
        .set_max_functions(200)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        // Interning every string a rule builds cost about a tenth of a poll (measured by
        // benches/rules.rs); rules build few long-lived strings.
        .set_max_strings_interned(0);
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.on_print(|text| {
        let rule = api::RUN.with(|r| r.borrow().as_ref().map(|c| c.rule.clone()));
        tracing::info!(rule = rule.as_deref().unwrap_or("?"), "print: {text}");
    });
    engine.on_debug(|text, _source, pos| {
        let rule = api::RUN.with(|r| r.borrow().as_ref().map(|c| c.rule.clone()));
        tracing::debug!(rule = rule.as_deref().unwrap_or("?"), %pos, "debug: {text}");
    });
    engine.on_progress(|ops| {
        if ops % CLOCK_EVERY != 0 {
            return None;
        }
        let late = api::RUN.with(|r| {
            r.borrow()
                .as_ref()
                .is_some_and(|c| Instant::now() >= c.deadline)
        });
        late.then(|| Dynamic::from("deadline"))
    });
    api::register(&mut engine);
    engine
}
