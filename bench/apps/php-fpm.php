<?php
// PHP-FPM (pm static, one worker) serving the benchmark variants.
header('Content-Type: text/plain');
$uri = $_SERVER['REQUEST_URI'] ?? '';
$variant = substr($uri, strrpos($uri, '/') + 1);
if ($variant === 'big') {
    echo str_repeat('x', 65536);
} elseif ($variant === 'echo') {
    echo strlen(file_get_contents('php://input'));
} else {
    echo 'Hello, world!';
}
