#!/usr/bin/env bash
# Generates a TypeScript client from openapi/courtyard.yaml with openapi-typescript and
# type-checks src/flow.ts (openapi-fetch: report a repair, read it back, read a problem's
# field errors) against it. Needs Node.js 20 and npm, and the npm registry; part of .ci/test.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run check
