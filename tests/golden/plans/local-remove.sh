#!/usr/bin/env bash
# remove node1 from chain test-chain (create_k8s_config.py remove_node)
set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top
cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # the port-forwards end with the script
# 1. reach the nodes that stay; node1 must be no validator (nothing to do when it is not)
kubectl port-forward pod/test-chain-0-0 28100:50004 >/dev/null &
kubectl port-forward pod/test-chain-2-0 28102:50004 >/dev/null &
sleep 2 && test "$(jobs -rp | wc -l)" -eq 2  # every port-forward still runs (one whose local port is taken ends)
{repo}/manage_chain.py status --rpc 127.0.0.1:28100,127.0.0.1:28102 --chain_name test-chain --wait_synced --timeout 900
{repo}/manage_chain.py remove_validator 0xd66030e3c3e3743eca3a8bf8718e4ab33694b012 --rpc 127.0.0.1:28100,127.0.0.1:28102 --chain_name test-chain --admin_dir test-chain-admin --admin_password_file <(kubectl get secret test-chain-kms-secret -o jsonpath='{.data.key_file}' | base64 -d) --if_needed
# 2. every other node: its peer list without node1 (read at its next start), and syncthing
kubectl cp cita-cloud/test-chain/node0/network-config.toml test-chain-0-0:/data/network-config.toml -c controller
kubectl cp cita-cloud/test-chain/node0/config/config.xml test-chain-0-0:/data/config/config.xml -c controller
kubectl exec test-chain-0-0 -c syncthing -- sh -c 'for folder in blocks proposals txs; do if syncthing cli --home /var/syncthing/config config folders "$folder" devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config folders "$folder" devices "$0" delete || exit 1; fi; done; if syncthing cli --home /var/syncthing/config config devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config devices "$0" delete; fi' OGEHBMT-EZSEDYA-PNJRD3D-CRTEFXN-QAAGBV4-CW5CMCL-S5IGEUS-JX2EUAV
kubectl cp cita-cloud/test-chain/node2/network-config.toml test-chain-2-0:/data/network-config.toml -c controller
kubectl cp cita-cloud/test-chain/node2/config/config.xml test-chain-2-0:/data/config/config.xml -c controller
kubectl exec test-chain-2-0 -c syncthing -- sh -c 'for folder in blocks proposals txs; do if syncthing cli --home /var/syncthing/config config folders "$folder" devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config folders "$folder" devices "$0" delete || exit 1; fi; done; if syncthing cli --home /var/syncthing/config config devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config devices "$0" delete; fi' OGEHBMT-EZSEDYA-PNJRD3D-CRTEFXN-QAAGBV4-CW5CMCL-S5IGEUS-JX2EUAV
# 3. stop node1 and delete its objects
kubectl delete statefulset/test-chain-1 service/test-chain-1 service/test-chain-1-executor secret/test-chain-1-network-secret --ignore-not-found
kubectl apply -f test-chain.yaml
# 4. delete node1's folder from the storage: it holds its keys
minikube ssh -- sudo rm -rf /home/docker/cita-cloud-datadir/cita-cloud/test-chain/node1
# 5. the chain goes on without node1
{repo}/manage_chain.py status --rpc 127.0.0.1:28100,127.0.0.1:28102 --chain_name test-chain --wait_synced --timeout 900
