# A deliberately small Sigma evaluator (approximate: ASCII case folding, fnmatch wildcards,
# windash by the pySigma rule, no base64offset/fieldref) used only to estimate, for the design,
# which realdata rules fire on the realdata Sysmon files with the parent context inline
# (sysmon profile) and with ParentCommandLine carried from the parent's own event.
# Usage: python3 mini_eval.py            (FLUXCAP_REALDATA overrides ../shared/realdata)
import yaml, os, json, re, fnmatch, collections
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))
def sigma_glob(p):
    out=''; i=0
    while i<len(p):
        c=p[i]
        if c=='\\' and i+1<len(p) and p[i+1] in '*?\\': out+='['+p[i+1]+']' if p[i+1]!='\\' else '\\'; i+=2; continue
        out+= '[[]' if c=='[' else c; i+=1
    return out
def windash(v):
    parts=re.split(r'(\B[-/]\b)', v); outs=['']
    for k,part in enumerate(parts):
        alts=['-','/','\u2013','\u2014','\u2015'] if k%2==1 else [part]
        outs=[o+a for o in outs for a in alts]
    return outs
def match(val, pat, ms):
    if pat is None: return val is None
    if val is None: return False
    if 're' in ms:
        fl=re.I if 'i' in ms else 0
        return re.search(str(pat), val, fl) is not None
    pats=windash(str(pat)) if 'windash' in ms else [str(pat)]
    for p in pats:
        p=sigma_glob(p).lower()
        if 'contains' in ms: p='*'+p+'*'
        elif 'startswith' in ms: p=p+'*'
        elif 'endswith' in ms: p='*'+p
        if fnmatch.fnmatchcase(val.lower(), p): return True
    return False
def item(get, k, v):
    fld,*ms=k.split('|'); vals=v if isinstance(v,list) else [v]
    if set(ms)&{'base64','base64offset','fieldref','wide'}: return None
    val=get(fld); val=None if val is None else str(val)
    r=[match(val,x,ms) for x in vals]
    return all(r) if 'all' in ms else any(r)
def ident_value(get, body):
    maps=body if isinstance(body,list) else [body]
    res=False
    for m in maps:
        if not isinstance(m,dict): return None
        vs=[item(get,k,v) for k,v in m.items()]
        if None in vs: return None
        res = res or all(vs)
    return res
def cond_value(cond, vals):
    def repl(mo):
        q,pat=mo.group(1),mo.group(2); rx=re.compile('^'+re.escape(pat).replace('\\*','.*')+'$')
        names=[n for n in vals if rx.match(n) and (pat.startswith('_') or not n.startswith('_'))]
        if not names: return 'False'
        return '('+(' or ' if q in ('1','any') else ' and ').join(names)+')'
    c=re.sub(r'\b(1|any|all) of ([A-Za-z0-9_*]+)', repl, cond)
    return eval(c, {'__builtins__':{}}, dict(vals))
rules=[]
for d,_,fs in os.walk(R+'/sigma'):
    if 'regression_data' in d: continue
    for f in sorted(fs):
        if f.endswith('.yml'):
            doc=yaml.safe_load(open(os.path.join(d,f)))
            if doc['logsource'].get('product')=='windows': rules.append((f,doc))
def run(fn, carried):
    ev=[json.loads(l) for l in open(R+'/sysmon/'+fn, encoding='utf-8')]
    seen={}; out=[]
    for n,e in enumerate(ev,1):
        par=seen.get(e['ParentProcessGuid'].upper())
        def get(fld):
            if carried and fld=='ParentCommandLine': return par.get('CommandLine') if par else '\x00absent'
            return e.get(fld)
        for f,doc in rules:
            det=doc['detection']; vals={}
            ok=True
            for k,b in det.items():
                if k=='condition': continue
                v=ident_value(get,b)
                if v is None: ok=False; break
                vals[k]=v
            if ok and cond_value(det['condition'], vals): out.append((n, f, par is not None))
        seen[e['ProcessGuid'].upper()]=e
    return out
tot_diff=0
for fn in sorted(os.listdir(R+'/sysmon')):
    if not fn.endswith('.jsonl'): continue
    a=set(run(fn,False)); b=set(run(fn,True))
    # carried context is only defined when the parent's own event was seen
    a_seen={x[:2] for x in a if x[2]}; b_seen={x[:2] for x in b if x[2]}
    print(f"{fn}: inline {len(a)} detections ({len(a_seen)} with parent seen); carried {len(b)} ({len(b_seen)} with parent seen); differ where parent seen: {len(a_seen ^ b_seen)}")
    for x in sorted(a): print('   inline', x)
    for x in sorted(b-a): print('   carried only', x)
