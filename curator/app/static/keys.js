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
  document.addEventListener("click", (ev) => {
    const card = ev.target.closest && ev.target.closest("#cards .step");
    if (card && !ev.target.closest("details, a")) select(card);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (typing(ev.target) || typing(document.activeElement)) return;
    const key = ev.key;
    if (key === "?") { document.getElementById("help")?.classList.toggle("open"); ev.preventDefault(); return; }
    if (shown("review-pane")) {
      if (shown("edit-panel")) { if (key === "Escape") click("edit-cancel"); return; }
      if (review[key]) { click(review[key]); ev.preventDefault(); }
      else if (key === "j") { move(1); ev.preventDefault(); }
      else if (key === "k") { move(-1); ev.preventDefault(); }
      else if (/^[1-9]$/.test(key)) { toggleTag(Number(key)); ev.preventDefault(); }
    } else if (shown("compare-pane") && compare[key]) {
      click(compare[key]); ev.preventDefault();
    }
  });
}
