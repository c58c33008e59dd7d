#!/usr/bin/env bash
# remove node2 from chain test-chain (create_k8s_config.py remove_node)
set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top
cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is
# 1. reach the nodes that stay; node2 must be no validator (nothing to do when it is not)
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,192.0.2.11:30002 --chain_name test-chain --wait_synced --timeout 900
{repo}/manage_chain.py remove_validator 0x0eb91ae0debe5f860921b4fca0882e71a0380366 --rpc 192.0.2.10:30002,192.0.2.11:30002 --chain_name test-chain --admin_dir {work}/0x76d1ed8d0c3f52def2e867ef226b80710cdf9f2e --admin_password_file {work}/0x76d1ed8d0c3f52def2e867ef226b80710cdf9f2e/key_file --if_needed
# 2. every other node: its peer list without node2 (read at its next start), and syncthing
kubectl --context red cp cita-cloud/test-chain/node0/network-config.toml test-chain-0-0:/data/network-config.toml -c controller
kubectl --context red cp cita-cloud/test-chain/node0/config/config.xml test-chain-0-0:/data/config/config.xml -c controller
kubectl --context red exec test-chain-0-0 -c syncthing -- sh -c 'for folder in blocks proposals txs; do if syncthing cli --home /var/syncthing/config config folders "$folder" devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config folders "$folder" devices "$0" delete || exit 1; fi; done; if syncthing cli --home /var/syncthing/config config devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config devices "$0" delete; fi' 27RMJ53-NEZREER-RX7QT5R-RDGHR3K-CMWQDYB-AIYUQYU-EHR4V6M-I4ORSQY
kubectl --context green cp cita-cloud/test-chain/node1/network-config.toml test-chain-1-0:/data/network-config.toml -c controller
kubectl --context green cp cita-cloud/test-chain/node1/config/config.xml test-chain-1-0:/data/config/config.xml -c controller
kubectl --context green exec test-chain-1-0 -c syncthing -- sh -c 'for folder in blocks proposals txs; do if syncthing cli --home /var/syncthing/config config folders "$folder" devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config folders "$folder" devices "$0" delete || exit 1; fi; done; if syncthing cli --home /var/syncthing/config config devices list | grep -q "$0"; then syncthing cli --home /var/syncthing/config config devices "$0" delete; fi' 27RMJ53-NEZREER-RX7QT5R-RDGHR3K-CMWQDYB-AIYUQYU-EHR4V6M-I4ORSQY
# 3. stop node2 and delete its objects
kubectl --context blue delete statefulset/test-chain-2 secret/test-chain-2-kms-secret secret/test-chain-2-network-secret networkpolicy/test-chain-2 service/test-chain-2 --ignore-not-found
kubectl --context red apply -f test-chain-0.yaml
kubectl --context green apply -f test-chain-1.yaml
# 4. delete node2's folder from the storage: it holds its keys
# delete cita-cloud/test-chain/node2 from that cluster's storage by hand
# 5. the chain goes on without node2
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,192.0.2.11:30002 --chain_name test-chain --wait_synced --timeout 900
