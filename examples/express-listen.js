// An ordinary Express app that listens on port 3000 itself. Unchanged, it runs over FastCGI with
//   spawn-fcgi -s /run/app.sock -n -- npx libfcgi run examples/express-listen.js
// (its app.listen(3000) then serves the FastCGI socket; port 3000 is never opened).
const express = require('express');

const app = express();
app.use(express.json());

app.get('/', (req, res) => {
  res.send(`Hello from Express over FastCGI, ${req.ip}\n`);
});

app.post('/echo', (req, res) => {
  res.json({ youSent: req.body });
});

app.listen(3000, () => {
  console.log('listening on port 3000');
});
