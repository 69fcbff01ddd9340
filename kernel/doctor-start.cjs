// `npm run doctor`: plain JavaScript, so that it can say "build first" when
// there is no dist/ yet (the doctor itself is TypeScript: kernel/doctor.ts).
'use strict';
const fs = require('fs');
const path = require('path');

const doctor = path.join(__dirname, '..', 'dist', 'kernel', 'doctor.js');
if (!fs.existsSync(doctor)) {
  console.log('Build\n  ✗ dist/ is not built (dist/kernel/doctor.js is missing)\n      fix: npm run build   (then: npm run doctor again)');
  process.exit(1);
}
require(doctor).main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`doctor: ${(e && e.stack) || e}\n`);
    process.exit(1);
  },
);
