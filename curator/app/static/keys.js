() => {
  // Keyboard-first review. Keys only click the app's own buttons and fields; they do nothing
  // while the focus is in a text field, a select or a code editor.
  const NOT_TEXT = ["checkbox", "radio", "button", "submit", "reset", "range", "color", "file"];
  const typing = (el) => !!el && (el.isContentEditable || !!(el.matches && el.matches("textarea, select"))
    || (el.tagName === "INPUT" && !NOT_TEXT.includes(el.type))
    || !!(el.closest && el.closest(".cm-editor, [contenteditable=true]")));
  const shown = (id) => { const el = document.getElementById(id); return !!el && el.offsetParent !== null; };
  const click = (id) => { const el = document.getElementById(id); if (el && !el.disabled) el.click(); };
  const steps = () => Array.from(document.querySelectorAll("#cards .step"));
  const select = (card) => {
    steps().forEach((c) => c.classList.toggle("selected", c === card));
    if (!card) return;
    card.scrollIntoView({block: "nearest"});
    const input = document.querySelector("#first-step input");
    if (input) {
      input.value = String(Number(card.dataset.step) + 1);
      input.dispatchEvent(new Event("input", {bubbles: true}));
      input.dispatchEvent(new Event("change", {bubbles: true}));
    }
  };
  const move = (delta) => {
    const all = steps();
    if (!all.length) return;
    const at = all.findIndex((c) => c.classList.contains("selected"));
    const next = at < 0 ? (delta > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + delta));
    select(all[next]);
  };
  const toggleTag = (n) => {
    const boxes = document.querySelectorAll("#fail-tags input[type=checkbox]");
    if (boxes[n - 1]) boxes[n - 1].click();
  };
  const review = {a: "btn-accept", e: "btn-edit", f: "btn-fail", s: "btn-skip", u: "btn-undo"};
  const compare = {l: "cmp-left", r: "cmp-right", t: "cmp-tie", b: "cmp-bad", n: "cmp-next"};
  // The editor, once shown (by e or a click), is brought into view with the focus on its first field.
  const revealEditor = () => {
    let tries = 0;
    const look = () => {
      const field = document.querySelector("#edit-thought textarea");
      if (shown("edit-panel") && field) {
        document.getElementById("edit-panel").scrollIntoView({block: "start"});
        field.focus({preventScroll: true});
      } else if (tries++ < 100) setTimeout(look, 30);
    };
    look();
  };
  // A "#id" link (the history, the dashboard) opens that trajectory in Review via "open #id".
  const openInReview = (id) => {
    const input = document.querySelector("#open-id input, #open-id textarea");
    if (!input) return;
    input.value = id;
    input.dispatchEvent(new Event("input", {bubbles: true}));
    document.querySelector("#tabs button[role=tab]")?.click();
    setTimeout(() => click("open-btn"), 50);
  };
  document.addEventListener("click", (ev) => {
    if (ev.target.closest && ev.target.closest("#btn-edit")) { revealEditor(); return; }
    const link = ev.target.closest && ev.target.closest("[data-open]");
    if (link) { openInReview(link.dataset.open); return; }
    const card = ev.target.closest && ev.target.closest("#cards .step");
    if (card && !ev.target.closest("details, a, label")) select(card);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const help = document.getElementById("help");
    if (ev.key === "Escape" && help?.classList.contains("open")) { help.classList.remove("open"); return; }
    if (ev.key === "Escape" && shown("review-pane") && shown("edit-panel")) { click("edit-cancel"); return; }
    if (typing(ev.target) || typing(document.activeElement)) return;
    const key = ev.key;
    if (key === "?") { help?.classList.toggle("open"); ev.preventDefault(); return; }
    if (shown("review-pane")) {
      if (shown("edit-panel")) return;
      if (review[key]) { click(review[key]); ev.preventDefault(); }
      else if (key === "j") { move(1); ev.preventDefault(); }
      else if (key === "k") { move(-1); ev.preventDefault(); }
      else if (/^[1-9]$/.test(key)) { toggleTag(Number(key)); ev.preventDefault(); }
    } else if (shown("compare-pane") && compare[key]) {
      click(compare[key]); ev.preventDefault();
    }
  });
}
