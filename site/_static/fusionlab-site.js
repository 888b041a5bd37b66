// The course website: remember the edition a reader picks (the site's index.html reads it), and
// carry a search query over to the other edition's search page.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".fusionlab-lang-link").forEach((link) => {
    if (/\/search\.html$/.test(link.pathname)) link.search = window.location.search;
    link.addEventListener("click", () => {
      try {
        window.localStorage.setItem("fusionlab-edition", link.dataset.edition);
      } catch (e) {
        /* storage unavailable (private mode): the index falls back to the browser's language */
      }
    });
  });
});
