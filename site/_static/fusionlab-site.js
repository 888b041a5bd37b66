// The course website: small additions to every page (site/conf.py, html_js_files).

// 1. The saved widget panels call MathJax 2's API to typeset their text (MathJax.Hub.Queue), but the
//    site serves MathJax 3, which has no Hub: without this bridge every panel throws. Deferred
//    scripts (MathJax) have run by DOMContentLoaded, and the embed script draws on window "load".
document.addEventListener("DOMContentLoaded", () => {
  const mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub || !mathjax.startup) return;
  mathjax.Hub = {
    Queue(...jobs) {
      const elements = jobs.filter((job) => Array.isArray(job) && job[0] === "Typeset").map((job) => job[2]);
      if (!elements.length) return;
      mathjax.startup.promise
        .then(() => mathjax.typesetPromise(elements))
        .catch((error) => console.warn("MathJax could not typeset a widget:", error));
    },
  };
});

// 2. The language switcher: remember the edition a reader picks (the site's index.html reads it),
//    and carry a search query over to the other edition's search page.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".fusionlab-lang-link").forEach((link) => {
    if (/\/search\.html$/.test(link.pathname)) link.search = window.location.search;
    link.addEventListener("click", () => {
      try {
        window.localStorage.setItem("fusionlab-edition", link.dataset.edition);
      } catch (e) {
        // storage unavailable (private mode): the index falls back to the browser's language
      }
    });
  });
});
