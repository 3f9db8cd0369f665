//! Inhibition: one cause, one bell. A firing alert whose rule declares `inhibits` holds back
//! the alerts of the rules it names that share its `equal` labels ("no agents available for
//! Billing" holds back "nobody ready on Billing" and "a caller has waited long on Billing").
//! Held-back alerts stay alerts: they are shown, with the reason, and told if the one that holds
//! them resolves first.

use std::collections::HashMap;

use crate::lifecycle::{Alert, State};
use crate::policy::Inhibited;
use crate::{AlertRule, Inhibits};

/// Which of `alerts` are held back, and by which firing alert (its title). Linear in the
/// number of alerts: the firing alerts of each inhibiting rule are indexed by their `equal`
/// label values first.
pub fn inhibitions<'a>(
    rules: &std::collections::BTreeMap<String, AlertRule>,
    alerts: impl Iterator<Item = &'a Alert> + Clone,
) -> Inhibited {
    // Per inhibiting rule: what it declares, and its firing alerts by their `equal` values.
    let mut holders: Vec<(&Inhibits, HashMap<Vec<&str>, &Alert>)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for a in alerts.clone().filter(|a| a.state == State::Firing) {
        let Some(inh) = rules.get(&a.rule).and_then(|r| r.inhibits.as_ref()) else {
            continue;
        };
        let Some(values) = values(a, &inh.equal) else {
            continue;
        };
        let i = *at.entry(&a.rule).or_insert_with(|| {
            holders.push((inh, HashMap::new()));
            holders.len() - 1
        });
        holders[i].1.entry(values).or_insert(a);
    }
    let mut out = Inhibited::new();
    if holders.is_empty() {
        return out;
    }
    for t in alerts {
        for (inh, by_values) in &holders {
            if !inh.rules.iter().any(|r| r == &t.rule) {
                continue;
            }
            let Some(holder) = values(t, &inh.equal).and_then(|v| by_values.get(&v)) else {
                continue;
            };
            if holder.rule == t.rule && holder.key == t.key {
                continue;
            }
            out.entry((t.rule.clone(), t.key.clone()))
                .or_insert_with(|| holder.title.clone());
        }
    }
    out
}

/// The values of `labels` on `a`, in order; `None` when one is missing.
fn values<'a>(a: &'a Alert, labels: &[String]) -> Option<Vec<&'a str>> {
    labels
        .iter()
        .map(|l| a.labels.get(l).map(String::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Finding, Labels, Mode, Severity};
    use std::collections::BTreeMap;

    fn rule(inhibits: Option<Inhibits>) -> AlertRule {
        AlertRule {
            name: "R".into(),
            severity: Severity::Critical,
            for_secs: 0,
            keep_firing_secs: 0,
            mode: Mode::State,
            repeat_secs: 0,
            notify_resolved: true,
            inhibits,
            runbook: None,
            active: None,
        }
    }

    fn alert(rule: &str, key: &str, state: State, labels: &[(&str, &str)]) -> Alert {
        let mut a = Alert::firing(
            Finding {
                rule: rule.into(),
                key: key.into(),
                severity: Severity::Critical,
                title: format!("{rule} {key}"),
                body: String::new(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Labels>(),
            },
            "R",
            0,
        );
        a.state = state;
        a
    }

    #[test]
    fn a_firing_alert_holds_back_those_that_share_its_labels_and_only_those() {
        let rules = BTreeMap::from([
            (
                "unavailable".to_string(),
                rule(Some(Inhibits {
                    rules: vec!["no_ready".into(), "long_wait".into(), "unavailable".into()],
                    equal: vec!["service".into()],
                })),
            ),
            ("no_ready".to_string(), rule(None)),
            ("long_wait".to_string(), rule(None)),
        ]);
        let alerts = [
            alert(
                "unavailable",
                "u:Billing",
                State::Firing,
                &[("service", "Billing")],
            ),
            // Pending: holds nothing back yet.
            alert(
                "unavailable",
                "u:Sales",
                State::Pending,
                &[("service", "Sales")],
            ),
            alert(
                "no_ready",
                "n:Billing",
                State::Pending,
                &[("service", "Billing")],
            ),
            alert(
                "no_ready",
                "n:Sales",
                State::Firing,
                &[("service", "Sales")],
            ),
            alert(
                "long_wait",
                "w:Billing",
                State::Firing,
                &[("service", "Billing")],
            ),
            // No `service` label: about the whole center, never held back by one service.
            alert("long_wait", "w:all", State::Firing, &[]),
        ];
        let got = inhibitions(&rules, alerts.iter());
        let want: Inhibited = [
            ("no_ready", "n:Billing", "unavailable u:Billing"),
            ("long_wait", "w:Billing", "unavailable u:Billing"),
        ]
        .into_iter()
        .map(|(r, k, by)| ((r.to_string(), k.to_string()), by.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn with_no_equal_labels_every_alert_of_the_named_rules_is_held_back_but_not_itself() {
        let rules = BTreeMap::from([(
            "outage".to_string(),
            rule(Some(Inhibits {
                rules: vec!["outage".into(), "other".into()],
                equal: vec![],
            })),
        )]);
        let alerts = [
            alert("outage", "a", State::Firing, &[]),
            alert("outage", "b", State::Firing, &[]),
            alert("other", "x", State::Firing, &[("service", "VIP")]),
        ];
        let got = inhibitions(&rules, alerts.iter());
        assert_eq!(
            got.keys()
                .map(|(r, k)| format!("{r}/{k}"))
                .collect::<Vec<_>>(),
            ["other/x", "outage/b"]
        );
        assert_eq!(got[&("outage".to_string(), "b".to_string())], "outage a");
    }
}
