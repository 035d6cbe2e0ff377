#!/usr/bin/env node
// Offline validators for tests/python/test_deploy.py (no network, no cluster).
//
//   node validate.js k8s < objects.json
//     objects.json: a JSON array of Kubernetes objects (a rendered overlay).
//     Each is built as its kubernetes-models class (core and apps APIs of
//     Kubernetes 1.27, prometheus-operator CRDs) and validated against its
//     OpenAPI schema. Prints [{apiVersion, kind, name, errors: [..]}]; an
//     apiVersion/kind with no model is an error, never a silent pass.
//
//   node validate.js dockerfile PATH
//     Lints a Dockerfile with dockerfile-utils (the linter of VS Code's Docker
//     extension). Prints [{line, severity: "error"|"warning"|..., message}].
"use strict";

const fs = require("fs");

// apiVersion -> the module holding its kubernetes-models classes.
function modelModule(apiVersion) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return "@kubernetes-models/prometheus-operator/" + apiVersion;
  }
  return "kubernetes-models/" + apiVersion; // "v1", "apps/v1", "policy/v1", ...
}

function validateObject(obj) {
  const apiVersion = String(obj.apiVersion || "");
  const kind = String(obj.kind || "");
  const name = (obj.metadata && obj.metadata.name) || "";
  const result = { apiVersion, kind, name, errors: [] };
  let Model;
  try {
    Model = require(modelModule(apiVersion))[kind];
  } catch (e) {
    Model = undefined;
  }
  if (typeof Model !== "function") {
    result.errors.push(`no kubernetes-models class for ${apiVersion} ${kind}`);
    return result;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    if (Array.isArray(e.errors) && e.errors.length) {
      for (const err of e.errors) {
        result.errors.push(`${err.instancePath || "/"}: ${err.message}`);
      }
    } else {
      result.errors.push(String(e && e.message ? e.message : e));
    }
  }
  return result;
}

const SEVERITY = { 1: "error", 2: "warning", 3: "information", 4: "hint" };

function lintDockerfile(path) {
  const { validate } = require("dockerfile-utils");
  const content = fs.readFileSync(path, "utf8");
  return validate(content).map((d) => ({
    line: d.range.start.line + 1,
    severity: SEVERITY[d.severity] || String(d.severity),
    message: d.message,
  }));
}

function main(argv) {
  const [mode, arg] = argv;
  let out;
  if (mode === "k8s") {
    const objects = JSON.parse(fs.readFileSync(0, "utf8"));
    if (!Array.isArray(objects)) throw new Error("expected a JSON array of objects");
    out = objects.map(validateObject);
  } else if (mode === "dockerfile" && arg) {
    out = lintDockerfile(arg);
  } else {
    process.stderr.write("usage: validate.js k8s < objects.json | validate.js dockerfile PATH\n");
    return 2;
  }
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
  return 0;
}

process.exitCode = main(process.argv.slice(2));
