//! docs/bugs/ holds one reviewed counterexample per seeded historical bug. Its generated part
//! (the model's shortest counterexample as text and Mermaid) must be what the core produces
//! now: this test regenerates it and fails if a page drifts
//! (`backup-check mutants --write-docs docs/bugs` rewrites them after a deliberate change).

use backup_coordinator::variant::Bug;
use backup_sim::mutants::{docs_section, DOCS_BEGIN, DOCS_END};
use std::path::Path;

#[test]
fn docs_bugs_pages_match_the_regenerated_counterexamples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bugs");
    let index = std::fs::read_to_string(dir.join("README.md")).expect("docs/bugs/README.md");
    for bug in Bug::ALL {
        let path = dir.join(format!("{}.md", bug.name()));
        let page =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let begin = page
            .find(DOCS_BEGIN)
            .expect("the generated part's first marker");
        let end = page
            .find(DOCS_END)
            .expect("the generated part's last marker")
            + DOCS_END.len();
        let on_disk = format!("{}\n", &page[begin..end]);
        let regenerated = docs_section(bug).unwrap();
        assert!(
            on_disk == regenerated,
            "{} drifted from the core; regenerate with `backup-check mutants --write-docs docs/bugs` and review the paragraphs:\n--- on disk\n{on_disk}\n--- now\n{regenerated}",
            path.display()
        );
        let prose = &page[..begin];
        assert!(
            prose.contains("**What the real bug was.**"),
            "{}",
            path.display()
        );
        assert!(
            prose.contains("**How the trace shows it.**"),
            "{}",
            path.display()
        );
        assert!(
            index.contains(&format!("({}.md)", bug.name())),
            "index lists {bug}"
        );
    }
}
