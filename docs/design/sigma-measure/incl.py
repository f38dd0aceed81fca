# Inclusive vs exclusive parent context on the realdata Sysmon events (design 1.5, 3.3).
import yaml, os, json, re, fnmatch
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))
def match_val(val, pat, ms):
    if val is None: return False
    v=val.lower(); p=str(pat).lower()
    if 'contains' in ms: p='*'+p+'*'
    elif 'startswith' in ms: p=p+'*'
    elif 'endswith' in ms: p='*'+p
    # sigma wildcards -> fnmatch (approx; escapes ignored)
    return fnmatch.fnmatchcase(v, p.replace('[','[[]'))
def item(ev, fld, ms, vals, src):
    vals = vals if isinstance(vals,list) else [vals]
    f = lambda x: match_val(ev.get(src), x, ms)
    return all(f(x) for x in vals) if 'all' in ms else any(f(x) for x in vals)
events=[]
for fn in sorted(os.listdir(R+'/sysmon')):
    if fn.endswith('.jsonl'): events += [(fn,i+1,json.loads(l)) for i,l in enumerate(open(R+'/sysmon/'+fn))]
diverge=[]; nrules=0; positives=[]
for d,_,fs in os.walk(R+'/sigma'):
    if 'regression_data' in d: continue
    for f in fs:
        if not f.endswith('.yml'): continue
        doc=yaml.safe_load(open(os.path.join(d,f)))
        for ident,body in doc['detection'].items():
            if ident=='condition': continue
            for m in (body if isinstance(body,list) else [body]):
                if not isinstance(m,dict): continue
                its=[(k.split('|')[0],k.split('|')[1:],v) for k,v in m.items() if k.split('|')[0]=='ParentCommandLine']
                if not its or any(set(ms)&{'re','windash','base64offset'} for _,ms,_ in its): continue
                nrules+=1
                for fn,ln,ev in events:
                    own=all(item(ev,fl,ms,v,'CommandLine') for fl,ms,v in its)
                    par=all(item(ev,fl,ms,v,'ParentCommandLine') for fl,ms,v in its)
                    if own and not par: diverge.append((f,ident,fn,ln,ev['Image'].split('\\')[-1]))
                    if par: positives.append((fn,ln))
print('conjunctions with ParentCommandLine items',nrules,'(event, conjunction) pairs where own CommandLine matches but parent does not:',len(diverge))
for x in diverge[:15]: print(' ',x)
# Positive ParentCommandLine tag instances on events whose parent event is in the stream
# (what the tag-level exactness test compares).
byfile={}
for fn,ln,ev in events: byfile.setdefault(fn,[]).append((ln,ev))
parent_seen={}
for fn,lst in byfile.items():
    s=set()
    for ln,ev in lst:
        parent_seen[(fn,ln)] = ev['ParentProcessGuid'].upper() in s
        s.add(ev['ProcessGuid'].upper())
print('events with the parent event earlier in the stream:', sum(parent_seen.values()), 'of', len(events))
print('positive ParentCommandLine conjunction instances (inline):', len(positives), 'of which parent seen:', sum(1 for x in positives if parent_seen[x]))
