// New-run form: search the chosen AWS account's discovered instances by id, Name tag or address,
// and show what the run will read (addresses, interfaces, VPC ranges, the covering flow log).
(function () {
  "use strict";
  const form = document.querySelector("form[data-instance-search]");
  if (!form) return;
  const source = form.querySelector("#id_source");
  const account = form.querySelector("#id_account");
  const instance = form.querySelector("#id_instance");
  const list = document.getElementById("instance-options");
  const details = document.getElementById("instance-details");
  const awsFields = form.querySelectorAll(
    "[data-field=account], [data-field=instance], [data-field=flow_log_id], [data-field=interfaces], " +
    "[data-field=engine]");  // the engine is a choice for AWS sources only
  const uploadFields = form.querySelectorAll("[data-field=log_files]");
  let results = [];
  let timer = null;

  function showSourceFields() {
    const aws = source.value !== "upload";
    awsFields.forEach((el) => { el.hidden = !aws; });
    uploadFields.forEach((el) => { el.hidden = aws; });
  }

  function text(tag, content) {
    const el = document.createElement(tag);
    el.textContent = content;
    return el;
  }

  function describe(target) {
    details.replaceChildren();
    if (!target) return;
    const dl = document.createElement("dl");
    dl.className = "facts";
    const flow = target.flow_log;
    const rows = [
      ["Instance", `${target.instance_id} ${target.name || ""} (${target.state}, ${target.region})`],
      ["Addresses", [...target.private_ips, ...target.ipv6_addresses, ...target.public_ips].join(", ") || "none"],
      ["Interfaces", target.interfaces.join(", ") || "none"],
      ["VPC ranges", target.vpc_cidrs.join(", ") || "unknown"],
      ["Flow log", flow ? `${flow.flow_log_id} → ${flow.log_group_name || ("s3://" + flow.s3_bucket + "/" + (flow.s3_prefix || ""))}` : "none covers it: the run cannot read AWS data"],
    ];
    rows.forEach(([k, v]) => { dl.append(text("dt", k), text("dd", v)); });
    details.append(dl);
  }

  async function search() {
    if (!account.value) return;
    const url = `${form.dataset.instanceSearch.replace("0", account.value)}?q=${encodeURIComponent(instance.value)}`;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      results = data.results;
      list.replaceChildren(...results.map((t) => {
        const option = document.createElement("option");
        option.value = t.instance_id;
        option.label = `${t.name || "(no name)"} · ${t.private_ips.join(", ")}`;
        return option;
      }));
      const exact = results.find((t) => t.instance_id === instance.value || t.name === instance.value);
      describe(exact || (results.length === 1 ? results[0] : null));
    } catch (error) {
      details.replaceChildren(text("p", "Could not search the account's instances."));
    }
  }

  instance.closest(".field").after(details);
  source.addEventListener("change", showSourceFields);
  account.addEventListener("change", search);
  instance.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  showSourceFields();
  if (account.value) search();
})();
