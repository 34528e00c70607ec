// Keyboard navigation of the timeline: j / k move to the next / previous event, Enter opens it.
// Everything works without this file (links and buttons are reachable with Tab).
document.addEventListener("keydown", function (ev) {
  var t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
  if (ev.key !== "j" && ev.key !== "k") return;
  var links = Array.prototype.slice.call(document.querySelectorAll("tr.event a.open"));
  if (!links.length) return;
  var i = links.indexOf(document.activeElement);
  i = ev.key === "j" ? Math.min(i + 1, links.length - 1) : Math.max(i - 1, 0);
  links[i].focus();
  links[i].scrollIntoView({block: "nearest"});
  ev.preventDefault();
});
