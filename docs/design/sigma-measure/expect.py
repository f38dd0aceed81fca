# Expected detections of the context-split tests (design 8.2), by walking the events seen so far.
import json, os
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))+'/sysmon/'
def load(f):
    ev=[json.loads(l) for l in open(R+f)]
    for i,o in enumerate(ev,1): o['_line']=i
    return ev
def run(f, child, gp=None, anc=None, parent=None):
    ev=load(f); seen={}
    hits=[]
    for o in ev:   # stream order: only events already seen count
        g=o['ParentProcessGuid'].upper()
        p=seen.get(g)
        gpo=seen.get(p['ParentProcessGuid'].upper()) if p else None
        ancs=[]; x=p
        while x: ancs.append(x); x=seen.get(x['ParentProcessGuid'].upper())
        ok=child(o)
        if parent is not None: ok = ok and p is not None and parent(p)
        if gp is not None: ok = ok and gpo is not None and gp(gpo)
        if anc is not None: ok = ok and any(anc(a) for a in ancs)
        if ok: hits.append((o['_line'],o['Image'].split('\\')[-1],o['ProcessGuid']))
        seen[o['ProcessGuid'].upper()]=o
    return hits
recon=lambda o: o['Image'].lower().endswith(('\\whoami.exe','\\systeminfo.exe','\\tasklist.exe'))
launcher=lambda a: all(s in a['CommandLine'].lower() for s in ['/c start /b','powershell','-enc'])
print('T1 GrandParentCommandLine launcher + recon')
for f in ['empire_dcom_shellwindows_stager.jsonl','empire_psexec_dcerpc_tcp_svcctl.jsonl','empire_uac_shellapi_fodhelper.jsonl','metasploit_logonpasswords_lsass_memory_dump.jsonl','proxylogon_ssrf_rce_poc.jsonl','purplesharp_ad_playbook_I.jsonl']:
    print(' ',f, run(f, recon, gp=launcher))
print('T1b inline ParentImage powershell + GrandParentImage cmd + recon')
for f in ['empire_dcom_shellwindows_stager.jsonl','empire_psexec_dcerpc_tcp_svcctl.jsonl']:
    print(' ',f, run(f, lambda o: recon(o) and o['ParentImage'].lower().endswith('\\powershell.exe'), gp=lambda a:a['Image'].lower().endswith('\\cmd.exe')))
dl=lambda a: '\\downloads\\' in a['Image'].lower()
print('T2 AncestorImage contains \\Downloads\\ + recon', run('metasploit_logonpasswords_lsass_memory_dump.jsonl', recon, anc=dl))
print('T2b recon with ancestor gatherNetworkInfo', run('metasploit_logonpasswords_lsass_memory_dump.jsonl', recon, anc=lambda a:'gathernetworkinfo.vbs' in a['CommandLine'].lower()))
print('T2c all recon', run('metasploit_logonpasswords_lsass_memory_dump.jsonl', recon))
print('T2d any descendant of Downloads payload', run('metasploit_logonpasswords_lsass_memory_dump.jsonl', lambda o: True, anc=dl))
print('T3 proxylogon GrandParentImage w3wp + whoami', run('proxylogon_ssrf_rce_poc.jsonl', lambda o:o['Image'].lower().endswith('\\whoami.exe'), gp=lambda a:a['Image'].lower().endswith('\\w3wp.exe')))
print('T3b proxylogon inline ParentImage w3wp', run('proxylogon_ssrf_rce_poc.jsonl', lambda o:o['ParentImage'].lower().endswith('\\w3wp.exe')))
print('T3c proxylogon ParentImage carried (parent rule) w3wp + whoami', run('proxylogon_ssrf_rce_poc.jsonl', lambda o:o['Image'].lower().endswith('\\whoami.exe'), parent=lambda a:a['ParentImage'].lower().endswith('\\w3wp.exe')))
