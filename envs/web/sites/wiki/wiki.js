// Articles list how many words they have, as some wikis do (a small script that pages run).
document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main");
  const tools = document.querySelector(".tools");
  if (!main || !tools) return;
  const words = main.innerText.split(/\s+/).filter(Boolean).length;
  const count = document.createElement("span");
  count.textContent = " \u00b7 " + words + " words";
  tools.appendChild(count);
});
