// timings records how long the last list and graph took to show, in ms from the page's start (and, sinceLoad,
// from the document's load), for the end-to-end test and for anyone curious (window.govalentTimings).
export const timings = {};
window.govalentTimings = timings;
