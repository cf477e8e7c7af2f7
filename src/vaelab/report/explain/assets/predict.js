/* vaelab explain: predict first, then see this run's numbers; the self-check at the end.
   The questions and this run's answers come from Python (vaelab.report.explain._predict)
   in #vaelab-data under "predict". A section's measured block stays folded until each of its
   questions is answered or skipped. The reader's choices stay in this page: in memory and in
   the browser's localStorage for this file, never sent anywhere. Keyboard: Tab into a question,
   arrow keys to choose, Enter to answer; focus then moves to the answer. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("vaelab-data").textContent);
  var Q = DATA.predict || {};
  // One record per page and run: a rebuilt page (new numbers) at the same path starts afresh.
  var KEY = "vaelab-predict:" + location.pathname + ":" + hash(JSON.stringify(Q));
  var chosen = {};  // question id → choice key, or "" when skipped

  function hash(text) {  // djb2, as hex: enough to tell runs apart
    var h = 5381;
    for (var i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
    return h.toString(16);
  }
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(chosen)); } catch (e) { /* storage off: memory only */ }
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function forms(section) { return Array.prototype.slice.call(section.querySelectorAll("form.predict")); }

  function pending(section) {
    return forms(section).some(function (f) { return !(f.dataset.predict in chosen); });
  }
  function update(section) {
    section.classList.toggle("predict-pending", pending(section));
  }

  // Show this run's answer beside the reader's choice; lock the question.
  function reveal(form, key, focus) {
    var id = form.dataset.predict, q = Q[id];
    if (!q) return;
    chosen[id] = key;
    save();
    form.querySelectorAll("input, button").forEach(function (b) { b.disabled = true; });
    form.querySelectorAll(".predict-choice").forEach(function (lab) {
      var k = lab.dataset.key;
      if (k === key) { lab.classList.add("chosen"); lab.appendChild(el("span", "badge yours", "your prediction")); }
      if (k === q.answer) { lab.classList.add("run"); lab.appendChild(el("span", "badge run", "this run")); }
      if (k === key) lab.querySelector("input").checked = true;
    });
    var box = form.querySelector(".predict-reveal");
    box.textContent = "";
    var you = el("p", "you");
    you.appendChild(el("strong", null, "You predicted: "));
    you.appendChild(document.createTextNode(key ? q.choices[key] + "." : "nothing (skipped)."));
    var run = el("p", "run");
    run.appendChild(el("strong", null, "This run: "));
    if (q.answer === null) {
      run.appendChild(document.createTextNode("the numbers do not single out one choice."));
    } else {
      run.appendChild(document.createTextNode(q.choices[q.answer] + ". "));
      if (key) run.appendChild(el("span", key === q.answer ? "verdict match" : "verdict differ",
        key === q.answer ? "✓ Your prediction matches." :
          "✗ Your prediction differs: compare the numbers below with what you expected."));
    }
    box.appendChild(you);
    box.appendChild(run);
    box.appendChild(el("p", "because", q.because));
    box.hidden = false;
    form.querySelector(".predict-note").textContent = "";
    update(form.closest("section") || document.body);
    if (focus) box.focus();
  }

  function answer(form) {
    var picked = form.querySelector("input[type=radio]:checked");
    if (!picked) {
      form.querySelector(".predict-note").textContent =
        "Pick one first (arrow keys move between the choices), or skip to see the numbers.";
      var first = form.querySelector("input[type=radio]");
      if (first) first.focus();
      return;
    }
    reveal(form, picked.value, true);
  }

  // Skipping one question shows the whole section's numbers: every open question there is skipped.
  function skip(form) {
    var section = form.closest("section") || document.body, first = null;
    forms(section).forEach(function (f) {
      if (!(f.dataset.predict in chosen)) { reveal(f, "", false); first = first || f; }
    });
    var box = (first || form).querySelector(".predict-reveal");
    if (box) box.focus();
  }

  document.querySelectorAll("form.predict").forEach(function (form) {
    form.addEventListener("submit", function (ev) { ev.preventDefault(); answer(form); });
    form.querySelector(".predict-skip").addEventListener("click", function () { skip(form); });
    form.querySelectorAll("input[type=radio]").forEach(function (r) {
      r.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter") { ev.preventDefault(); answer(form); }
      });
    });
  });

  // The measured blocks of sections with questions wait, with a note where they will appear.
  var sections = [];
  document.querySelectorAll("form.predict").forEach(function (form) {
    var s = form.closest("section");
    if (s && sections.indexOf(s) < 0) sections.push(s);
  });
  sections.forEach(function (s) {
    var m = s.querySelector(".measure:not(.missing)");
    if (m) m.parentNode.insertBefore(el("p", "predict-wait",
      "This run's numbers appear here once you have answered the question above, or skipped it."), m);
    update(s);
  });

  // Choices made earlier on this page (same file) are shown again, without moving focus.
  var before = load();
  Object.keys(before).forEach(function (id) {
    var form = document.getElementById("predict-" + id);
    var key = before[id], ok = Q[id] && (key === "" || key in Q[id].choices);
    if (form && ok && !(id in chosen)) reveal(form, key, false);
  });

  // ---- the self-check: a go first, then the answer ------------------------------------
  document.querySelectorAll(".check").forEach(function (c) {
    var btn = c.querySelector(".check-show"), text = c.querySelector("textarea");
    var ans = c.querySelector(".check-answer"), note = c.querySelector(".check-note"), nudged = false;
    btn.addEventListener("click", function () {
      if (!text.value.trim() && !nudged) {
        nudged = true;
        note.textContent = "Have a go first: even a guess helps you remember. Press again to see the answer.";
        return;
      }
      note.textContent = "";
      ans.hidden = false;
      btn.setAttribute("aria-expanded", "true");
      btn.disabled = true;
      ans.focus();
    });
  });

  window.vaelab = window.vaelab || {};
  window.vaelab.predict = {
    choices: function () { return JSON.parse(JSON.stringify(chosen)); },
    questions: Object.keys(Q),
    ready: true
  };
})();
