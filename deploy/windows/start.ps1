# Entry point of the Windows image: runs kube-proxy-ts in kernelspace mode on the node.exe that the
# npm package "node" installed into the image. HostProcess containers start in the host's file
# system; the image's files are under $env:CONTAINER_SANDBOX_MOUNT_POINT.
$ErrorActionPreference = 'Stop'
$root = $env:CONTAINER_SANDBOX_MOUNT_POINT
if (-not $root) { $root = $PSScriptRoot }
$app = Join-Path $root 'kube-proxy-ts'
$node = Join-Path $app 'node_modules\node\bin\node.exe'
$config = Join-Path $root 'var\lib\kube-proxy-windows\config.conf'
if (-not (Test-Path $config)) { $config = '/var/lib/kube-proxy-windows/config.conf' }
$kpArgs = @("--config=$config", "--hostname-override=$env:NODE_NAME")
# The config file wins over flags, so a per-node source VIP is written into a copy of it.
if ($env:SOURCE_VIP) {
  $nodeConfig = Join-Path $env:TEMP 'kube-proxy-ts-config.conf'
  (Get-Content -Raw $config) -replace 'sourceVip: ""', "sourceVip: $env:SOURCE_VIP" | Set-Content -NoNewline $nodeConfig
  $kpArgs[0] = "--config=$nodeConfig"
}
& $node (Join-Path $app 'src\cmd\kube-proxy.ts') @kpArgs
exit $LASTEXITCODE
