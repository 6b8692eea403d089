// The reviewer page's keyboard shortcuts and lease countdown. The page works without
// this script (plain forms); it only adds keys and the live timer.
(() => {
  "use strict";

  // A focused checkbox or radio (after a click) takes no text: the shortcuts stay live.
  const typing = (el) =>
    el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ||
    (el instanceof HTMLInputElement && el.type !== "checkbox" && el.type !== "radio") ||
    el.isContentEditable;

  // Once a form is on its way, further keys must not send a second decision.
  let submitting = false;
  document.addEventListener("submit", () => { submitting = true; });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || submitting) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const target = document.querySelector(`[data-key="${CSS.escape(event.key.toLowerCase())}"]`);
    if (!target || target.disabled) return;
    event.preventDefault();
    if (target instanceof HTMLTextAreaElement) target.focus();
    else target.click();
  });

  const lease = document.getElementById("lease");
  if (!lease || lease.classList.contains("expired")) return;
  const deadline = Date.now() + Number(lease.dataset.remaining) * 1000;
  const clock = lease.querySelector(".clock");

  function expire() {
    lease.classList.add("expired");
    lease.textContent = "Your lease has expired: claim the item again to decide it.";
    document.querySelectorAll("#decide button").forEach((b) => { b.disabled = true; });
    document.getElementById("claim-again")?.removeAttribute("hidden");
  }

  function tick() {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) return expire();
    const minutes = Math.floor(left / 60);
    clock.textContent = `${minutes}:${String(left % 60).padStart(2, "0")}`;
    setTimeout(tick, 1000);
  }
  tick();
})();
