#include "profile/flamegraph_script.h"

namespace ksight::profile {

const std::string_view kFlamegraphScript = R"JS(
"use strict";
var details, searchButton, unzoomButton, matchedText, frames;
var total, xpad, avail, charWidth, zoomedTo = null, searchTerm = null;

function fg_init() {
  details = document.getElementById("details").firstChild;
  searchButton = document.getElementById("search");
  unzoomButton = document.getElementById("unzoom");
  matchedText = document.getElementById("matched");
  var box = document.getElementById("frames");
  total = +box.getAttribute("data-total");
  xpad = +box.getAttribute("data-xpad");
  avail = +box.getAttribute("data-avail");
  charWidth = +box.getAttribute("data-charw");
  frames = box.getElementsByTagName("g");
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i];
    g.addEventListener("click", function (e) { zoom(e.currentTarget); });
    g.addEventListener("mouseover", function (e) { details.nodeValue = titleOf(e.currentTarget); });
    g.addEventListener("mouseout", function () { details.nodeValue = " "; });
  }
  searchButton.addEventListener("click", function () {
    if (searchTerm === null) askSearch(); else resetSearch();
  });
  unzoomButton.addEventListener("click", unzoom);
  window.addEventListener("keydown", function (e) {
    // Ctrl-F and F3 search the graph rather than the page's text.
    if (e.key === "F3" || (e.ctrlKey && (e.key === "f" || e.key === "F"))) {
      e.preventDefault();
      askSearch();
    }
  });
}

function titleOf(g) { return g.getElementsByTagName("title")[0].textContent; }
function nameOf(g) { var t = titleOf(g); return t.substring(0, t.lastIndexOf(" (")); }
function attr(g, name) { return +g.getAttribute(name); }

function clip(name, width) {
  var chars = Array.from(name);
  var fits = Math.floor((width - 6) / charWidth);
  if (fits < 3) return "";
  if (chars.length <= fits) return name;
  return chars.slice(0, fits - 2).join("") + "..";
}

// Draws frame g between x and x + width.
function place(g, x, width) {
  var rect = g.getElementsByTagName("rect")[0];
  var text = g.getElementsByTagName("text")[0];
  rect.setAttribute("x", x.toFixed(2));
  rect.setAttribute("width", width.toFixed(2));
  text.setAttribute("x", (x + 3).toFixed(2));
  text.textContent = clip(nameOf(g), width);
}

function zoom(target) {
  var s = attr(target, "data-s"), v = attr(target, "data-v"), d = attr(target, "data-d");
  zoomedTo = target;
  unzoomButton.classList.remove("hide");
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i];
    var gs = attr(g, "data-s"), gv = attr(g, "data-v"), gd = attr(g, "data-d");
    g.classList.remove("hide", "parent");
    if (gd < d && gs <= s && gs + gv >= s + v) {
      // An ancestor: drawn across the whole width, faded.
      g.classList.add("parent");
      place(g, xpad, avail);
    } else if (gd >= d && gs >= s && gs + gv <= s + v) {
      place(g, xpad + (gs - s) / v * avail, gv / v * avail);
    } else {
      g.classList.add("hide");
    }
  }
  if (searchTerm !== null) search(searchTerm);
}

function unzoom() {
  zoomedTo = null;
  unzoomButton.classList.add("hide");
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i];
    g.classList.remove("hide", "parent");
    place(g, xpad + attr(g, "data-s") / total * avail, attr(g, "data-v") / total * avail);
  }
  if (searchTerm !== null) search(searchTerm);
}

function askSearch() {
  var term = prompt("Search frames (regular expression, e.g. ^ext4_)", searchTerm === null ? "" : searchTerm);
  if (term === null || term === "") return;
  search(term);
}

function resetSearch() {
  searchTerm = null;
  searchButton.firstChild.nodeValue = "Search";
  matchedText.firstChild.nodeValue = " ";
  for (var i = 0; i < frames.length; i++) {
    var rect = frames[i].getElementsByTagName("rect")[0];
    if (rect.hasAttribute("data-fill")) {
      rect.setAttribute("fill", rect.getAttribute("data-fill"));
      rect.removeAttribute("data-fill");
    }
  }
}

function search(term) {
  var re;
  try { re = new RegExp(term); } catch (err) {
    matchedText.firstChild.nodeValue = "Invalid regular expression";
    return;
  }
  resetSearch();
  searchTerm = term;
  searchButton.firstChild.nodeValue = "Reset Search";
  // The matched share counts each sample once: intervals of matched frames
  // merged, so a match nested in another match adds nothing.
  // Zoomed, the share is of the zoomed frame: matching ancestors count only
  // their part above it.
  var lo = 0, hi = total;
  if (zoomedTo !== null) {
    lo = attr(zoomedTo, "data-s");
    hi = lo + attr(zoomedTo, "data-v");
  }
  var spans = [];
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i];
    if (!re.test(nameOf(g))) continue;
    var rect = g.getElementsByTagName("rect")[0];
    rect.setAttribute("data-fill", rect.getAttribute("fill"));
    rect.setAttribute("fill", "rgb(230,0,230)");
    var from = Math.max(attr(g, "data-s"), lo), to = Math.min(attr(g, "data-s") + attr(g, "data-v"), hi);
    if (to > from) spans.push([from, to]);
  }
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var matched = 0, end = -1;
  for (var j = 0; j < spans.length; j++) {
    var start = Math.max(spans[j][0], end);
    if (spans[j][1] > start) { matched += spans[j][1] - start; end = spans[j][1]; }
  }
  matchedText.firstChild.nodeValue = "Matched: " + (100 * matched / (hi - lo)).toFixed(1) + "%";
}
)JS";

}  // namespace ksight::profile
