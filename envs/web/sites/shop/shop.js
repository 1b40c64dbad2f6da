// The checkout page's total follows the shipping choice (Express adds $9.99), as shops do.
document.addEventListener("DOMContentLoaded", () => {
  const shipping = document.getElementById("shipping");
  const total = document.getElementById("order-total");
  if (!shipping || !total) return;
  const update = () => {
    const cents = Number(total.dataset.cents) + (shipping.value === "express" ? 999 : 0);
    total.textContent = "$" + (cents / 100).toFixed(2);
  };
  shipping.addEventListener("change", update);
  update();
});
