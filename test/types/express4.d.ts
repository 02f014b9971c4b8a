// Express 4 is installed as the npm alias express4; its API as far as the tests use it is Express 5's.
declare module 'express4' {
  import express = require('express');
  export = express;
}
